"""One way to execute a chapter outside the book: its name, a budget, a seed, a perturbation.

The claims survey (``bookfactory.claims``: every chapter over seeds, thread counts, CPU
kernels and PyTorch versions) and the GPU check (``bookfactory.gpu_check``: every chapter on
a borrowed GPU) both run a chapter through ``execute_chapter``, so the two agree on what
"running a chapter" means: a fresh Jupyter kernel started in the chapter's folder, the
run's settings in its environment (``CNNCOURSE_BUDGET``, ``CNNCOURSE_SEED``,
``CNNCOURSE_CLAIMS``, ``CNNCOURSE_CHAPTER``, and whatever else the perturbation sets or
unsets), every cell in order, the first error stops it. What comes back says which cell
failed and why, in words a summary table can show.

The book build does not come here: jupyter-book executes the pages itself (with its cache,
``_config.yml``'s ``execute`` section; ``bookfactory.build_book`` clears that cache when
what the pages read changes).
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CHAPTERS", "Execution", "chapter_source", "execute_chapter", "kernel_manager_class",
           "patched_environ"]

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"


class patched_environ:
    """Set (a string) and unset (``None``) variables of ``os.environ`` for a while.

    A kernel inherits the environment of the process that starts it, so this is how a run's
    settings reach the chapter's code; on leaving, every variable is as it was.
    """

    def __init__(self, env: Mapping[str, str | None]):
        self.env = dict(env)

    def __enter__(self):
        self.saved = {key: os.environ.get(key) for key in self.env}
        for key, value in self.env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def kernel_manager_class(python: str | None = None, connection_file: Path | None = None):
    """nbclient's kernel manager, its kernel run by ``python`` (this interpreter by default).

    The asynchronous one, as nbclient's default: with a blocking one, the caller's event
    loop (and so a survey's Ctrl-C) waits for the whole cell. ``connection_file``: where the
    kernel's ports are written (beside a survey's journal, not in a temporary folder a kill
    would leave behind).
    """
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    spec = None
    if python is not None and python != sys.executable:
        spec = KernelSpec(argv=[python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          display_name=f"Python ({python})", language="python")

    class ChapterKernel(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if connection_file is not None:
                self.connection_file = str(connection_file)

        @property
        def kernel_spec(self):
            return spec if spec is not None else super().kernel_spec

    return ChapterKernel


@dataclass
class Execution:
    """What one run of a chapter did."""

    notebook: Any                 # the notebook, with the outputs of every cell that ran
    seconds: float
    error: str | None = None      # "ExceptionName: its last line", None when every cell ran
    cell: int | None = None       # the index of the cell that failed
    code: str = ""                # that cell's first line of code
    assertion: str = ""           # the failing ``assert`` line, when the error came from one

    @property
    def passed(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        """The failure in one line: the cell, its code, the assertion and the error."""
        if self.error is None:
            return ""
        if self.cell is None:
            return self.error
        return (f"cell {self.cell} (code: {self.code!r})"
                + (f", at {self.assertion!r}" if self.assertion else "") + f": {self.error}")


def chapter_source(chapter: str | Path) -> Path:
    """A chapter's name (``lenet``: its MyST source ``chapters/lenet.md``) or a notebook's path."""
    path = Path(chapter)
    if path.suffix in (".md", ".ipynb"):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such notebook")
        return path.resolve()
    source = CHAPTERS / f"{chapter}.md"
    if not source.is_file():
        names = ", ".join(sorted(p.stem for p in CHAPTERS.glob("*.md")))
        raise FileNotFoundError(f"no chapter named {chapter!r}: choose from {names}, "
                                "or give the path of a .md or .ipynb")
    return source


def _read(source: Path):
    if source.suffix == ".ipynb":  # nbformat alone: the GPU kit carries no jupytext
        import nbformat

        return nbformat.read(source, as_version=4)
    import jupytext

    return jupytext.read(source)


def _first_code_line(source: str) -> str:
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.startswith("#")]
    return lines[0][:100] if lines else "(empty)"


def execute_chapter(chapter: str | Path, *, budget: str, seed: int | None = None,
                    env: Mapping[str, str | None] | None = None, claims: Path | None = None,
                    timeout: int = 1800, python: str | None = None,
                    connection_file: Path | None = None,
                    on_notebook_start: Callable | None = None,
                    on_client: Callable[[Any], None] | None = None) -> Execution:
    """Run every cell of ``chapter`` in a fresh kernel; report the first failure, if any.

    ``budget`` and ``seed`` reach the chapter as ``CNNCOURSE_BUDGET`` and ``CNNCOURSE_SEED``;
    ``claims``, a JSON-lines file, puts its ``claim(...)`` calls in survey mode (they write
    down what they saw instead of stopping the run). ``env`` is the perturbation: variables
    to set (a string) or unset (``None``) for the kernel, such as ``OMP_NUM_THREADS`` or
    ``ATEN_CPU_CAPABILITY``; ``python`` the interpreter the kernel runs in (another PyTorch).
    ``timeout``: seconds per cell. ``on_client`` is called with the nbclient client before it
    starts (a survey keeps it, to kill the kernel on Ctrl-C); ``on_notebook_start`` is
    nbclient's hook once the kernel is up. A ``KeyboardInterrupt`` goes through to the caller.
    """
    import nbclient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    source = chapter_source(chapter)
    nb = _read(source)
    variables: dict[str, str | None] = dict(env or {})
    variables.update({"CNNCOURSE_BUDGET": budget, "CNNCOURSE_CHAPTER": source.stem})
    if seed is not None:
        variables["CNNCOURSE_SEED"] = str(seed)
    if claims is not None:
        variables["CNNCOURSE_CLAIMS"] = str(claims)
    running = {"cell": None}

    def cell_started(cell, cell_index, **_):
        running["cell"] = cell_index

    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3",
        kernel_manager_class=kernel_manager_class(python, connection_file),
        on_notebook_start=on_notebook_start, on_cell_start=cell_started,
        resources={"metadata": {"path": str(source.parent)}})
    if on_client is not None:
        on_client(client)
    run = Execution(nb, 0.0)
    start = time.perf_counter()
    try:
        with patched_environ(variables):  # the kernel inherits this process's environment
            client.execute()
    except Exception as err:  # noqa: BLE001 -- a failed chapter is a result, not a crash
        if isinstance(err, CellExecutionError):
            text = str(err.evalue).strip()
            run.error = f"{err.ename}: {text.splitlines()[-1][:300] if text else ''}"
        elif isinstance(err, CellTimeoutError):
            run.error = f"CellTimeoutError: a cell ran longer than {timeout} s"
        else:  # the kernel did not start, died, ...
            text = str(err).strip()
            run.error = f"{type(err).__name__}: {text.splitlines()[-1][:300] if text else ''}"
        if isinstance(err, (CellExecutionError, CellTimeoutError)) and running["cell"] is not None:
            run.cell = running["cell"]
            run.code = _first_code_line(nb.cells[run.cell].source)
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
            run.assertion = next((ln for ln in reversed(lines) if ln.startswith("assert")), "")
    finally:
        run.seconds = time.perf_counter() - start
    return run
