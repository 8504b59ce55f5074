# The two commands of the README. Each installs what it needs first.
PY ?= python3

.PHONY: setup book test notebooks

setup:
	bash tools/setup.sh

book: setup
	$(PY) tools/build_book.py

# Unit tests + every chapter under nbval (smoke budget) + the book built in the smoke budget.
test: setup
	CNNCOURSE_BUDGET=smoke $(PY) -m pytest --nbval-lax -q

notebooks:
	$(PY) tools/sync_notebooks.py
