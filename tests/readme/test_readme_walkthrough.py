"""The README's walkthrough, executed from the README itself, on a plain install.

A fresh copy of the repository (the files git knows), a venv with ``pip install .`` and nothing else
(no extras, no test packages), then every ``sh`` block of the README's walkthrough section in one bash
session, in order, with the placeholders filled (``<dns_port>``, ``<vault-id>``, ``<recovery-point>``,
the data dir and the ports). The restored files must be identical to the originals. So the README and
this tier cannot drift apart, and a dependency that only the test extras install breaks this test.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTION_START = "## Walkthrough: the Azure seed's story"
SECTION_END = "## The AWS seed"


def story_blocks(readme: str) -> list[str]:
    section = readme[readme.index(SECTION_START) : readme.index(SECTION_END)]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)


def fill(blocks: list[str], data_dir: Path, restored: Path, pidfile: Path) -> str:
    """One bash script: the blocks with placeholders filled, and the few lines a reader does by eye
    (wait for the server, read the ids it printed) injected where the README says where to find them."""
    out = ["set -euo pipefail", "shopt -s expand_aliases"]
    for block in blocks:
        text = block.replace("/tmp/vl", str(data_dir)).replace("/tmp/restored", str(restored))
        text = text.replace("./scripts/serve --data-dir", "./scripts/serve --api-port 0 --dns-port 0 --data-dir")
        if "<dns_port>" in text or "<vault-id>" in text:
            out += [
                'DNS_PORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\'dns_port\'])" '
                f'"{data_dir}/server.json")',
                "VAULT_ID=$(vl vault show prod -o json | python3 -c "
                '"import json,sys; print(json.load(sys.stdin)[\'id\'])")',
            ]
        text = text.replace("<dns_port>", "$DNS_PORT").replace("<vault-id>", "$VAULT_ID")
        if "<recovery-point>" in text:  # the newest point, read where the line before prints it
            line_start = text[: text.index("<recovery-point>")].rsplit("\n", 1)[-1]
            head = text.partition(line_start)[0]
            out.append(head)
            out.append("RP=$(vl agent recovery-points -o json | python3 -c "
                       '"import json,sys; print(json.load(sys.stdin)[-1][\'id\'])")')
            text = text[len(head):].replace("<recovery-point>", "$RP")
        out.append(text)
        if "./scripts/serve" in text:
            out += [
                f'echo $! > "{pidfile}"',
                f'for _ in $(seq 1 300); do [ -f "{data_dir}/server.json" ] && break; sleep 0.1; done',
                f'[ -f "{data_dir}/server.json" ] || {{ echo "the server did not start"; exit 1; }}',
            ]
    return "\n".join(out) + "\n"


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_blocks_are_found() -> None:
    blocks = story_blocks((ROOT / "README.md").read_text())
    text = "\n".join(blocks)
    for step in ("./scripts/serve", "vault create", "--public-network-access Disabled", "vnet create",
                 "endpoint create", "dig -b", "vault credentials", "agent register", "agent backup",
                 "agent restore", "recovery-point delete", "recovery-point undelete", "vault lock put"):
        assert step in text, f"the README's walkthrough lost its step {step!r}"


@pytest.mark.timeout(900)
def test_readme_walkthrough_on_a_plain_install(tmp_path: Path) -> None:
    if shutil.which("dig") is None:
        pytest.fail("dig is missing: ./scripts/test installs bind9-dnsutils")
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / f)
    # the install a new user gets: pip install . in a new venv, nothing else
    subprocess.run([sys.executable, "-m", "venv", str(repo / ".venv")], check=True, timeout=300)
    pip = subprocess.run([str(repo / ".venv/bin/pip"), "install", "-q", "."], cwd=repo, capture_output=True,
                         text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    digest = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()
    (repo / ".venv/.vaultlink-installed").write_text(f"{digest} extras=\n")
    freeze = subprocess.run([str(repo / ".venv/bin/pip"), "freeze"], capture_output=True, text=True).stdout.lower()
    installed = {ln.split("==")[0] for ln in freeze.splitlines() if "==" in ln}
    for extra in ("pytest", "psycopg", "boto3", "cedarpy", "hypothesis"):
        assert extra not in installed, f"{extra} is in the plain install"
    home = tmp_path / "home"
    docs = home / "documents"
    (docs / "sub").mkdir(parents=True)
    (docs / "report.txt").write_text("quarterly numbers\n" * 1000)
    (docs / "sub" / "photo.bin").write_bytes(os.urandom(300_000))
    (docs / "link").symlink_to("report.txt")
    data_dir, restored, pidfile = tmp_path / "vl", tmp_path / "restored", tmp_path / "serve.pid"
    script = fill(story_blocks((repo / "README.md").read_text()), data_dir, restored, pidfile)
    (tmp_path / "story.sh").write_text(script)
    env = {"HOME": str(home), "PATH": f"{repo / '.venv/bin'}:/usr/local/bin:/usr/bin:/bin",
           "NO_PROXY": "*", "LANG": "C.UTF-8", "AWS_EC2_METADATA_DISABLED": "true"}
    out_path, err_path = tmp_path / "story.out", tmp_path / "story.err"
    try:  # files, not pipes: the server the story starts in the background keeps its output open
        with open(out_path, "w") as out, open(err_path, "w") as err:
            rc = subprocess.run(["bash", str(tmp_path / "story.sh")], cwd=repo, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, timeout=600).returncode
    finally:
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    log = f"--- script\n{script}\n--- stdout\n{stdout[-6000:]}\n--- stderr\n{stderr[-6000:]}"
    assert rc == 0, log
    ips = [ln for ln in stdout.splitlines() if re.fullmatch(r"127\.10\.1\.\d+", ln.strip())]
    assert ips, f"dig from inside the vnet answered no private IP\n{log}"
    assert re.search(r"^-rw-\S+ +\d+ +\d+ +18000 \S+ \S+ documents/report\.txt$", stdout, re.M), log  # agent ls
    assert re.search(r"^l\S+ .* documents/link -> report\.txt$", stdout, re.M), log
    assert tree(restored / "documents") == tree(docs), log
    assert (restored / "documents" / "link").is_symlink()
