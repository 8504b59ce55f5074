# The two commands of the README. Each installs what it needs first.
PY ?= python3

.PHONY: setup book test notebooks gpu-check

setup:
	bash tools/setup.sh

book: setup
	$(PY) tools/build_book.py

# Unit tests + every chapter under nbval (smoke budget) + the book built in the smoke budget.
test: setup
	CNNCOURSE_BUDGET=smoke $(PY) -m pytest --nbval-lax -q

notebooks:
	$(PY) tools/sync_notebooks.py

# Every chapter (full budget on CUDA, smoke elsewhere), scripts/train_alexnet.py and the GPU
# benchmarks, one summary in $$OUT or _build/gpu-check (tools/gpu_check.py). No network needed:
# with a .kit/ from `bash benchmarks/gpu_kit.sh prepare`, its wheels and data are used.
gpu-check:
	@if [ -d .kit/wheels ]; then bash benchmarks/gpu_kit.sh run gpu-check; \
	else $(PY) tools/gpu_check.py $(GPU_CHECK_ARGS); fi
