#!/usr/bin/env bash
# Install what the book and the tests need on a fresh machine: Python packages,
# this package (editable), and the real Fashion-MNIST where it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -r requirements.txt
python3 -m pip install -q --no-deps --no-build-isolation -e .
if ! python3 -c "import cnncourse, sys; cnncourse.find_fashion_mnist(download=False)" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Fashion-MNIST not found: installing Debian's dataset-fashion-mnist"
    (apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null
  else
    echo "Fashion-MNIST not found locally; the loader will download it on first use." >&2
  fi
fi
