#!/usr/bin/env bash
# `make test-oldest`: the unit tests and every chapter (smoke budget) on the OLDEST versions this
# course supports (requirements-oldest.txt: Colab's runtime when they were chosen), so a claim
# of support is a run, not a hope.
#
# It makes (or reuses) a virtualenv of its own, .venv-oldest/ (OLDEST_ENV=DIR for another), with
# the Python that requirements-oldest.txt names ("# python: 3.13"): $PYTHON_OLDEST if set, else
# pythonX.Y on the PATH, else pyenv's. Into it go requirements.txt with the oldest pins in place of
# its own, and this checkout's cnncourse (editable, with the test extra); again only when one of
# those files changed. The first time downloads PyTorch (several GB). Then, inside it, what
# `make test` runs: pytest over tests/, whose book test executes every chapter in smoke.
#
#   bash tools/test_oldest.sh            # set up, print the versions, run the tests
#   bash tools/test_oldest.sh --setup    # set up and print the versions only
#   bash tools/test_oldest.sh -- -k lenet   # arguments after -- go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "test-oldest: $*" >&2; }

want=$(sed -n 's/^# python: *\([0-9.]*\).*/\1/p' requirements-oldest.txt)
[ -n "$want" ] || { log "requirements-oldest.txt names no '# python: X.Y' line"; exit 1; }
env_dir=${OLDEST_ENV:-$PWD/.venv-oldest}

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

if [ "$(version_of "$env_dir/bin/python")" != "$want" ]; then
  base=${PYTHON_OLDEST:-}
  if [ -z "$base" ]; then
    for candidate in "python$want" "$HOME"/.pyenv/versions/"$want"*/bin/"python$want"; do
      if command -v "$candidate" >/dev/null 2>&1; then base=$(command -v "$candidate"); break; fi
    done
  fi
  if [ -z "$base" ] || [ "$(version_of "$base")" != "$want" ]; then
    log "needs Python $want (found: ${base:-none}). Install it (pyenv install $want; or your"
    log "distribution's python$want with its venv module) or set PYTHON_OLDEST=/path/to/python$want."
    exit 1
  fi
  log "creating $env_dir with $("$base" -V 2>&1) ($base)"
  rm -rf "$env_dir"
  "$base" -m venv "$env_dir" >&2
fi
py=$env_dir/bin/python

stamp=$env_dir/.cnncourse-requirements
hash=$(cat requirements.txt requirements-oldest.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
  # requirements.txt without the packages that requirements-oldest.txt pins (its own pins would
  # conflict); every other line stays, so the oldest environment has the same packages.
  pinned=$(sed -n 's/^\([A-Za-z0-9_.-]*\)==.*/\1/p' requirements-oldest.txt | tr 'A-Z_' 'a-z-')
  rest=$env_dir/requirements-rest.txt
  while IFS= read -r line; do
    name=$(printf '%s' "$line" | sed -n 's/^\([A-Za-z0-9_.-]*\).*/\1/p' | tr 'A-Z_' 'a-z-')
    if [ -n "$name" ] && printf '%s\n' "$pinned" | grep -qx "$name"; then continue; fi
    printf '%s\n' "$line"
  done < requirements.txt > "$rest"
  log "installing the oldest set into $env_dir (the first time: PyTorch, several GB)"
  pip_log=$env_dir/.cnncourse-setup.log
  : > "$pip_log"
  for args in "--upgrade pip setuptools" "-r $rest -r requirements-oldest.txt" \
              "--no-build-isolation -e .[test] -c requirements-oldest.txt"; do
    # shellcheck disable=SC2086  # the arguments are split on purpose
    if ! "$py" -m pip install -q $args >>"$pip_log" 2>&1; then
      tail -n 30 "$pip_log" >&2
      log "pip install $args failed (whole log: $pip_log)"
      exit 1
    fi
  done
  echo "$hash" > "$stamp"
fi

# The versions this run tests, checked against the pins (a pip that kept a newer one fails here).
"$py" - <<'EOF' >&2
import platform, re, sys
from importlib.metadata import version
pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", open("requirements-oldest.txt").read(), re.M))
want = re.search(r"^# python: *([0-9.]+)", open("requirements-oldest.txt").read(), re.M)[1]
print(f"test-oldest: Python {platform.python_version()}, "
      + ", ".join(f"{name} {version(name)}" for name in pins))
bad = [f"{n} {version(n)} (pinned {v})" for n, v in pins.items() if version(n).split("+")[0] != v]
if not platform.python_version().startswith(want + "."):
    bad.append(f"Python {platform.python_version()} (wanted {want})")
if bad:
    sys.exit("test-oldest: not the oldest set: " + ", ".join(bad))
EOF
"$py" -c "import cnncourse, pathlib, sys; sys.exit(0 if pathlib.Path(cnncourse.__file__).resolve().parents[1] == pathlib.Path.cwd().resolve() else 'test-oldest: cnncourse is not imported from this checkout: ' + cnncourse.__file__)"

if [ "${1:-}" = "--setup" ]; then echo "$py"; exit 0; fi
[ "${1:-}" = "--" ] && shift
export PATH="$env_dir/bin:$PATH" VIRTUAL_ENV=$env_dir
CNNCOURSE_BUDGET=smoke exec "$py" -m pytest -q -rs "$@"
