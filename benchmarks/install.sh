#!/usr/bin/env bash
# Install what the d2l-vs-cnncourse benchmarks need (see requirements-bench.txt for why
# d2l goes in without its dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -r requirements-bench.txt
python -m pip install --no-deps d2l==1.0.3
python -c "from d2l import torch as d2l; print('d2l', 'ok')"
