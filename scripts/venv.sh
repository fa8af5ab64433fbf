#!/usr/bin/env bash
# Create .venv and install vaultlink with the given extras (default: none).
# Installs once: later runs skip pip unless pyproject.toml or the extras changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
# The package is installed editable (its code runs from src/): compile it to bytecode now, so that no process
# compiles it again at import — where PYTHONDONTWRITEBYTECODE is set (container images often set it), every
# `vaultlink` process would otherwise compile the modules it imports again (~0.6 s per server start, ~0.1 s
# per CLI or agent call). Quick when nothing changed: only changed files are compiled.
# An optimisation only: a read-only checkout, or a file that does not compile (its import says why), does not stop
# the install.
compile_src() { .venv/bin/python -m compileall -q -j 0 src >/dev/null 2>&1 || true; }
stamp=.venv/.vaultlink-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) extras=${extras}"
have="$(cat "$stamp" 2>/dev/null || true)"
# An install with more extras serves a request for fewer: only reinstall when something is missing.
if [ -n "$have" ] && [ "${have%% *}" = "${want%% *}" ]; then
  have_extras=",${have#*extras=},"
  missing=""
  IFS=',' read -ra want_list <<< "$extras"
  for e in "${want_list[@]}"; do
    [ -z "$e" ] && continue
    case "$have_extras" in *",$e,"*) ;; *) missing=1 ;; esac
  done
  if [ -z "$missing" ] && .venv/bin/python -c 'import vaultlink' 2>/dev/null; then
    compile_src
    exit 0
  fi
fi
if [ -n "$extras" ]; then
  .venv/bin/pip install -q -e ".[$extras]"
else
  .venv/bin/pip install -q -e .
fi
echo "$want" > "$stamp"
compile_src
