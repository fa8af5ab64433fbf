"""``vaultlink serve`` with the bench-only streaming routes on the backup service (see data_path_bench.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench_routes

from vaultlink.api.data_apps import DATA_ROUTERS
from vaultlink.cli.main import main

DATA_ROUTERS["backup"] = (*DATA_ROUTERS["backup"], _bench_routes.router)
sys.argv = ["vaultlink", "serve", *sys.argv[1:]]
main()
