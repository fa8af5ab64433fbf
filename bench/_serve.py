"""``vaultlink serve`` with the bench-only streaming routes on the backup service (see data_path_bench.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vaultlink.cli.main import main
from vaultlink.fabric.contract import DATA_ROUTE_MODULES

DATA_ROUTE_MODULES["backup"] = (*DATA_ROUTE_MODULES["backup"], "_bench_routes")
sys.argv = ["vaultlink", "serve", *sys.argv[1:]]
main()
