"""The house rules of DESIGN.md §9, checked on the source: imports point down the layers, no import loops,
no in-function imports of the project's own modules without a comment saying why, files readable in one
sitting. A change that breaks one of them fails here, with the offending file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "vaultlink"

# Higher imports lower (or equal). bootstrap is the composition root: it may import anything but the CLI,
# whose `serve` command runs it.
RANK = {
    "errors": 0, "ports": 0, "units": 0, "config": 1, "prefixes": 1, "index_wire": 1, "durable": 1,
    "policy": 2, "dns": 2, "data": 2,
    "domain": 3, "agent": 4, "adapters": 4,
    "service": 5, "fabric": 6, "runtime": 6,
    "api": 7, "compat": 7, "bootstrap": 8, "prune_process": 8, "audit_process": 8, "cli": 9,
}
# Who may import adapters: the composition roots alone (the service sees ports): the service's process and
# the prune worker's and the audit writer's.
ADAPTER_USERS = {"bootstrap", "prune_process", "audit_process", "adapters"}
# The agent stays small: it imports only the pure packages and errors/config.
AGENT_MAY = {"agent", "data", "dns", "errors", "config", "ports", "prefixes", "index_wire", "durable", "units"}
MAX_LINES = 400
# An in-function import of the project's own code needs one of these reasons on the line above it.
REASONS = ("# lazy:", "# cycle:")


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "vaultlink"


def _module_of(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str, bool, str]]:
    """(line, module, inside a function, the line above) for every import of the project's own code."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    out: list[tuple[int, str, bool, str]] = []
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    inner.add(id(sub))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            names = [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if name.startswith("vaultlink."):
                above = _comment_above(lines, node.lineno)
                out.append((node.lineno, name, id(node) in inner, above))
    return out


def _comment_above(lines: list[str], lineno: int) -> str:
    """The comment block right above line ``lineno`` (1-based), first line first."""
    i = lineno - 2
    block: list[str] = []
    while i >= 0 and lines[i].strip().startswith("#"):
        block.insert(0, lines[i].strip())
        i -= 1
    return " ".join(block)


def test_every_layer_is_ranked() -> None:
    layers = {_layer(_module_of(p)) for p in _modules()} - {"vaultlink", "__main__"}
    assert layers <= set(RANK), f"rank these layers in tests/unit/test_architecture.py: {layers - set(RANK)}"


def test_imports_point_down() -> None:
    bad = []
    for path in _modules():
        me = _layer(_module_of(path))
        if me not in RANK:
            continue
        for line, mod, _inner, _above in _imports(path):
            them = _layer(mod)
            where = f"{path.relative_to(SRC.parent)}:{line} imports {mod}"
            if them not in RANK:
                continue
            if RANK[them] > RANK[me]:
                bad.append(f"{where} (upward: {me} → {them})")
            elif them == "adapters" and me not in ADAPTER_USERS:
                bad.append(f"{where} (only the composition root opens adapters)")
            elif me == "agent" and them not in AGENT_MAY:
                bad.append(f"{where} (the agent imports only {sorted(AGENT_MAY)})")
    assert not bad, "\n".join(bad)


def test_in_function_imports_say_why() -> None:
    bad = []
    for path in _modules():
        for line, mod, inner, above in _imports(path):
            if inner and not above.startswith(REASONS):
                bad.append(f"{path.relative_to(SRC.parent)}:{line} imports {mod} inside a function")
    assert not bad, "move these to the top of the module, or say why on the line above (# lazy: / # cycle:):\n" + (
        "\n".join(bad)
    )


def test_in_function_imports_are_few() -> None:
    count = sum(1 for p in _modules() for _l, _m, inner, _a in _imports(p) if inner)
    assert count <= 6, f"{count} in-function imports of the project's own code (at most 6)"


def test_no_import_loops() -> None:
    """Imports for type checking count too: a module that names another's types sits above it."""
    graph: dict[str, set[str]] = {}
    known = {_module_of(p) for p in _modules()}
    for path in _modules():
        me = _module_of(path)
        deps = set()
        for _line, mod, _inner, _above in _imports(path):
            while mod not in known and "." in mod:
                mod = mod.rsplit(".", 1)[0]
            if mod in known and mod != me:
                deps.add(mod)
        graph[me] = deps
    # a package's __init__ importing its own submodules is not a loop of the code's layering
    seen: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                loops.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    assert not loops, "import loops:\n" + "\n".join(" → ".join(loop) for loop in loops)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC.parent)))
def test_files_are_readable_in_one_sitting(path: Path) -> None:
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(SRC.parent)} has {n} lines (at most {MAX_LINES}); split it"


def test_the_cli_and_the_agent_never_load_the_server() -> None:
    """``vaultlink agent …`` and the client commands start without the server's stack (agent start-up)."""
    import subprocess
    import sys

    server = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "vaultlink.service", "vaultlink.api",
              "vaultlink.fabric", "vaultlink.bootstrap", "vaultlink.adapters")
    code = ("import sys, vaultlink.cli.main, vaultlink.agent.session; "
            f"print(*[m for m in {server!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"the CLI loaded: {out.stdout.strip()}"


def _stderr_tail(code: str) -> tuple[str, str, str]:
    """Run ``code`` in a fresh interpreter: (the last line it printed to stderr, its stderr, its stdout)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = out.stderr.strip().splitlines()
    return (lines[-1] if lines else ""), out.stderr, out.stdout


def test_a_client_command_starts_light() -> None:
    """A client command (every e2e step, every script line of a user) loads neither the agent's HTTP
    stack (httpx) nor pydantic (typer 0.29 coerces options through it), and builds only the click
    command of the group it runs: these were 0.15 s of a 0.37 s start."""
    code = (
        "import sys, vaultlink.cli.main as m\n"
        "built = []\n"
        "orig = m.typer.main.get_group\n"
        "m.typer.main.get_group = lambda t: built.append(t.info.help) or orig(t)\n"
        "sys.argv = ['vaultlink', '--url', 'http://127.0.0.1:9', '--api-key', 'x', 'region', 'list', '-o', 'json']\n"
        "try:\n    m.app()\nexcept SystemExit:\n    pass\n"
        "print([n for n in ('httpx', 'pydantic', 'vaultlink.agent.engine') if n in sys.modules], len(built),"
        " file=sys.stderr)\n"
    )
    last, err, stdout = _stderr_tail(code)
    assert last == "[] 2", err  # the root group and `region`
    assert "ServiceUnavailable" in stdout  # it ran the command: nothing listens on port 9


def test_the_agent_loads_no_http_library_and_no_server() -> None:
    """The agent's start is part of every backup a user times: its modules (the engine, the HTTP client on
    the standard library) load neither httpx nor the server's stack (FastAPI, SQLAlchemy, uvicorn)."""
    code = (
        "import sys, vaultlink.agent.session, vaultlink.agent.worker, vaultlink.cli.agent\n"
        "print([n for n in ('httpx', 'fastapi', 'sqlalchemy', 'uvicorn', 'pydantic') if n in sys.modules],"
        " file=sys.stderr)\n"
    )
    last, err, _ = _stderr_tail(code)
    assert last == "[]", err


def test_an_agent_command_without_a_bar_loads_no_progress_machinery() -> None:
    """``--no-progress`` and ``-o json`` (every scripted backup and restore) draw no bar: rich's progress
    machinery, about 20 ms of each agent start, is not imported for them."""
    code = (
        "import sys\nfrom vaultlink.cli import agent\n"
        "with agent._progress_bar('restore', False) as cb:\n    assert cb is None\n"
        "print('rich.progress' in sys.modules, file=sys.stderr)\n"
    )
    last, err, _ = _stderr_tail(code)
    assert last == "False", err
