"""The README's netns-mode walkthrough, executed from the README itself inside a namespace of the test's own.

Its ``sh`` blocks run in one bash session in the outer namespace, with the paths moved under the test's
temporary directory (the namespaces mounted there, not in /run/netns) and ``<vault-id>`` read from the
server. The backup must complete through the private endpoint, from the VM's address."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import VENV_BIN
from tests.netmodes import OuterNs

ROOT = Path(__file__).resolve().parents[2]
START = "## Real networks: host and netns modes"


def test_the_readme_netns_walkthrough(outer: OuterNs, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    begin = readme.index(START)
    section = readme[begin: readme.index("\n## ", begin + len(START))]  # up to the next section
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)
    assert len(blocks) == 2
    cfg = tmp_path / "netns.toml"
    cfg.write_text(f'netns_dir = "{tmp_path / "ns"}"\nnetns_etc_dir = "{tmp_path / "etc"}"\n')
    first = blocks[0].replace("vaultlink serve --fabric netns --data-dir /tmp/vlnet &",
                              f"vaultlink serve --fabric netns --data-dir /tmp/vlnet --config {cfg} --api-port 0 "
                              "--dns-port 0 > /tmp/vlnet-serve.log 2>&1 &\nSERVER=$!\n"
                              "for i in $(seq 200); do [ -f /tmp/vlnet/server.json ] && break; sleep 0.1; done")
    first += ("VAULT_ID=$(vaultlink vault show prod -o json | "
              "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])')\n")
    second = blocks[1].replace("<vault-id>", "$VAULT_ID")
    script = "\n".join(["set -euo pipefail", f"export PATH={VENV_BIN}:$PATH", first, second,
                        "vaultlink audit list --decision allowed -o json > /tmp/vlnet-audit.json",
                        "kill $SERVER; wait $SERVER || true"])
    script = script.replace("/tmp/vlnet", str(tmp_path / "vlnet"))
    r = subprocess.run([*outer.enter, "bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = r.stdout.split("\n")
    assert any(line.startswith("10.0.1.4") for line in lines), r.stdout  # dig answered the endpoint's IP
    assert re.search(r"recovery_point\s*│\s*rp-", r.stdout) and re.search(r"files\s*│\s*1\s", r.stdout), r.stdout
    audit = (tmp_path / "vlnet-audit.json").read_text()
    assert '"source_ip": "10.0.0.1"' in audit, "the VM reached the endpoint from its vnet"
