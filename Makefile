# The two commands of the README. Each first runs tools/setup.sh, which makes (or reuses) the
# Python environment -- the activated virtualenv/conda env, else .venv/ -- and prints its python;
# everything after runs with that environment's bin/ first on the PATH.
ENV = PY=$$(bash tools/setup.sh) && export PATH="$$(dirname "$$PY"):$$PATH" &&

.PHONY: setup book test test-oldest unit lint notebooks gpu-check

setup:
	@bash tools/setup.sh >/dev/null

book:
	@$(ENV) python -m bookfactory build

# Unit tests, and the book built in the smoke budget: each chapter executes once there and is a
# test of its own (tests/test_book.py). -rs: the reason of each skipped test.
test:
	@$(ENV) CNNCOURSE_BUDGET=smoke python -m pytest -q -rs

# The fast tests, for a contributor's loop: no book build, no new environments, no chapter
# executions (those tests are marked slow in tests/; `make test` runs them). Under a minute.
unit:
	@$(ENV) CNNCOURSE_BUDGET=smoke python -m pytest -q -m "not slow"

# ruff, with the rules in pyproject.toml ([tool.ruff]); installed by `pip install -e ".[dev]"`.
lint:
	@$(ENV) if ! python -m ruff --version >/dev/null 2>&1; then \
	  echo 'ruff is not installed here: pip install -e ".[dev]" (or pip install ruff)' >&2; exit 1; fi; \
	python -m ruff check .

# The same tests on the OLDEST supported versions (requirements-oldest.txt: Python 3.13, PyTorch
# 2.11, ...), in .venv-oldest/, built from the package registry the first time (several GB).
# Needs that Python: pyenv's, pythonX.Y on the PATH, or PYTHON_OLDEST=/path (tools/test_oldest.sh).
test-oldest:
	@bash tools/test_oldest.sh

notebooks:
	@$(ENV) python -m bookfactory notebooks

# Every chapter (full budget on CUDA, smoke elsewhere), scripts/train_alexnet.py and the GPU
# benchmarks, one summary in $$OUT or _build/gpu-check (bookfactory/gpu_check.py). No network needed:
# with a .kit/ from `bash benchmarks/gpu_kit.sh prepare`, its wheels and data are used.
gpu-check:
	@if [ -d .kit/wheels ]; then bash benchmarks/gpu_kit.sh run gpu-check; \
	else $(ENV) python -m bookfactory gpu-check $(GPU_CHECK_ARGS); fi
