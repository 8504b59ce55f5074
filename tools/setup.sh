#!/usr/bin/env bash
# Make the Python environment the book and the tests run in, and print its interpreter.
#
# Where it installs:
#   * an environment the user has activated (virtualenv: $VIRTUAL_ENV, conda: $CONDA_PREFIX);
#   * otherwise .venv/ in the repository, made with `python3 -m venv`, because the python3 of
#     Debian 12 and Ubuntu 24.04 refuses `pip install` outside a virtualenv (PEP 668).
# It installs requirements.txt and this package (editable, with its test extra: captum, which
# only the tests import) only when one of them changed since the last run (a hash in the environment), so later runs take a second. Last, the real
# Fashion-MNIST: Debian's dataset-fashion-mnist where it is missing and we are root.
#
#   bash tools/setup.sh            # set up, then print the environment's python on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "setup: $*" >&2; }

if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  env_dir=$VIRTUAL_ENV
elif [ -n "${CONDA_PREFIX:-}" ] && [ -x "$CONDA_PREFIX/bin/python" ]; then
  env_dir=$CONDA_PREFIX
else
  env_dir=$PWD/.venv
  if [ ! -x "$env_dir/bin/python" ]; then
    base=${PYTHON:-python3}
    if ! "$base" -c "import venv, ensurepip" 2>/dev/null; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing python3-venv (the venv module of Debian's Python)"
        (apt-get install -y -q python3-venv || (apt-get update -q && apt-get install -y -q python3-venv)) >&2
      else
        log "$base has no venv module: install it (Debian/Ubuntu: sudo apt-get install python3-venv) or activate an environment"
        exit 1
      fi
    fi
    log "creating .venv with $("$base" -V 2>&1) ($(command -v "$base"))"
    rm -rf "$env_dir"
    "$base" -m venv "$env_dir" >&2
  fi
fi
py=$env_dir/bin/python

# The checkout's path too: an environment shared by two clones holds one editable install, and
# it must be this clone's (the book's kernels import it; bookfactory/build_book.py checks).
want=$( (cat requirements.txt pyproject.toml; pwd) | sha256sum | cut -d' ' -f1)
stamp=$env_dir/.cnncourse-requirements
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing requirements.txt and cnncourse into $env_dir (the first time: about 6 GB with PyTorch's CUDA build; README: a CPU-only PyTorch)"
  # pip's and setuptools' notices go to a log, shown when a step fails
  pip_log=$env_dir/.cnncourse-setup.log
  : > "$pip_log"
  # (the package's own dependencies are requirements.txt's already: the last step adds the extra)
  for args in "--upgrade pip setuptools" "-r requirements.txt" "--no-build-isolation -e .[test]"; do
    # shellcheck disable=SC2086  # the arguments are split on purpose
    if ! "$py" -m pip install -q $args >>"$pip_log" 2>&1; then
      tail -n 30 "$pip_log" >&2
      log "pip install $args failed (whole log: $pip_log)"
      exit 1
    fi
  done
  echo "$want" > "$stamp"
fi

if ! "$py" -c "import cnncourse; cnncourse.find_fashion_mnist(download=False)" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "Fashion-MNIST not found: installing Debian's dataset-fashion-mnist"
    (apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null
  else
    log "Fashion-MNIST not found locally; the loader will download it on first use."
  fi
fi
echo "$py"
