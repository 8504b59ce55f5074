"""What a learner sees while ``train_ch6`` runs: curves or lines, a bar, the closing lines.

``TrainingDisplay`` gathers it, so the loop makes one call per event (epoch start, batch,
epoch end). ``EpochProgress`` is the bar within a long epoch -- AlexNet on a CPU takes
minutes per epoch, and a learner should not stare at a frozen cell -- shown only once the
epoch is predicted to take longer than ``min_seconds``:

* in a notebook a person is watching, in *one* IPython display handle that every epoch
  rewrites (never the hundred ``\\r`` frames a stored output would keep);
* in a notebook run by an executor (nbclient for the HTML book, nbval, papermill), not at
  all: nobody watches it, and the executed notebook should keep the results, not the last
  frame of a bar;
* in a terminal, ``tqdm.auto``'s usual bar on stderr, cleared at the end of each epoch;
  nothing when stderr is not a terminal (a log file would collect every frame).

``tqdm.auto`` would draw an ipywidgets bar in a notebook, but without ipywidgets it warns
and falls back to ``\\r`` frames; hence the display handle.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable

from .distributed import is_main_process
from .plotting import Animator, in_notebook

__all__ = ["EpochProgress", "TrainingDisplay"]

BAR_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} batches "
              "[{elapsed}<{remaining}{postfix}]")  # tqdm puts ", " before a postfix


def _person_watching() -> bool:
    """Whether a person's frontend sends this kernel its cells (not an executor).

    Executors (nbclient, nbval, papermill) send every cell with ``allow_stdin=False``,
    because nobody could answer an ``input()``; Jupyter, VS Code and Colab allow it.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    return bool(getattr(kernel, "_allow_stdin", True))


class _DisplayLine:
    """A file-like target for tqdm that shows its latest line in one display handle."""

    def __init__(self) -> None:
        self.handle = None
        self.last = ""

    def write(self, s: str) -> None:
        line = s.replace("\r", "").rstrip("\n").rstrip()
        if not line or line == self.last:  # tqdm clears with blanks: keep the last line
            return
        self.last = line
        from IPython.display import display

        bundle = {"text/plain": line}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)

    def flush(self) -> None:
        pass


class EpochProgress:
    """A bar for the epoch in progress, shown only when the epoch runs long.

    ``start(epoch)`` at the beginning of each epoch, ``update(examples)`` after each
    batch, ``end()`` after it, ``close()`` once at the end. ``min_seconds`` is the
    predicted epoch length (from the time per batch so far, checked after
    ``look_after`` seconds) above which the bar appears. ``notebook``: None finds out
    (in a kernel that an executor runs, no bar at all), True draws into a display
    handle, False into the terminal. ``clock`` exists for tests.
    """

    def __init__(self, num_epochs: int, num_batches: int | None, min_seconds: float = 5.0,
                 look_after: float = 1.0, notebook: bool | None = None,
                 clock=time.perf_counter) -> None:
        self.num_epochs, self.num_batches = num_epochs, num_batches
        self.min_seconds, self.look_after = min_seconds, look_after
        self.notebook = in_notebook() if notebook is None else notebook
        self.unwatched = notebook is None and self.notebook and not _person_watching()
        self.clock = clock
        self.bar = None
        self.shown = False           # whether any epoch showed a bar
        self._line = _DisplayLine() if self.notebook else None
        self._epoch = 0
        self._t0 = 0.0
        self._batches = 0
        self._examples = 0
        self._decided = False

    def start(self, epoch: int) -> None:
        self._epoch, self._t0 = epoch, self.clock()
        self._batches = self._examples = 0
        self._decided = not self.num_batches or self.unwatched  # no length known: no bar
        self.bar = None

    def _open(self, now: float) -> None:
        common = dict(total=self.num_batches, initial=self._batches,
                      desc=f"epoch {self._epoch + 1}/{self.num_epochs}",
                      bar_format=BAR_FORMAT, mininterval=0.5, dynamic_ncols=False)
        if self._line is not None:
            from tqdm.std import tqdm as std_tqdm  # tqdm.auto would warn without ipywidgets

            self.bar = std_tqdm(file=self._line, ncols=100, leave=True, disable=False,
                                **common)
        else:
            from tqdm.auto import tqdm as auto_tqdm

            self.bar = auto_tqdm(file=sys.stderr, leave=False, disable=None, **common)
            if self.bar.disable:
                return
        # tqdm's own clock started just now; ours has the whole epoch
        self.bar.start_t = self.bar.last_print_t = self.bar._time() - (now - self._t0)
        self._postfix(now)
        self.bar.refresh()
        self.shown = True

    def _postfix(self, now: float) -> None:
        rate = self._examples / max(now - self._t0, 1e-9)
        self.bar.set_postfix_str(f"{rate:,.0f} examples/s", refresh=False)

    def update(self, examples: int) -> None:
        """One more batch of ``examples`` training examples is done."""
        self._batches += 1
        self._examples += examples
        if self.bar is not None:
            if not self.bar.disable:
                self._postfix(self.clock())
                self.bar.update(1)
            return
        if self._decided:
            return
        now = self.clock()
        elapsed = now - self._t0
        if elapsed < self.look_after:
            return
        self._decided = True
        if elapsed / self._batches * self.num_batches > self.min_seconds:
            try:
                self._open(now)
            except ImportError:  # tqdm missing (a clone used without installing): no bar
                self.bar = None

    def end(self) -> None:
        """The epoch is over: the bar shows it complete, then (in a terminal) goes away."""
        if self.bar is not None:
            if not self.bar.disable:
                self.bar.refresh()  # the rate of the last update: training alone
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self.end()


class TrainingDisplay:
    """Curves (``animate``) or one text line per epoch, the bar, and d2l's closing lines.

    ``verbose=False`` prints nothing and shows no bar; ``animate=False`` draws no curves
    (then each epoch gets a text line). ``progress`` is ``EpochProgress``'s
    ``min_seconds`` (``True``: 5 s; ``False``: no bar). The figure's x-axis is in
    epochs from 0: the first points come a fifth of the way into epoch 1. Under a process
    group only rank 0 shows anything: one set of lines, not one per rank.
    """

    def __init__(self, num_epochs: int, train_iter: Iterable, animate: bool = True,
                 verbose: bool = True, progress: bool | float = True) -> None:
        if not is_main_process():
            animate = verbose = False
        self.verbose = verbose
        self.num_batches = len(train_iter) if hasattr(train_iter, "__len__") else None
        self.batch_size = getattr(train_iter, "batch_size", None)  # for advice on memory
        self.animator = (Animator(xlabel="epoch", xlim=[0, num_epochs],
                                  legend=["train loss", "train acc", "test acc"])
                         if animate else None)
        self.bar = None
        if verbose and progress is not False:
            limit = 5.0 if progress is True else float(progress)
            self.bar = EpochProgress(num_epochs, self.num_batches, min_seconds=limit,
                                     look_after=min(1.0, limit / 5))
        self._epoch = self._batch = 0

    def start(self, history) -> None:
        if self.verbose:
            print(f"training on {history.device} (budget: {history.budget})")

    def epoch_start(self, epoch: int) -> None:
        self._epoch, self._batch = epoch, 0
        if self.bar is not None:
            self.bar.start(epoch)

    def batch(self, examples: int, metric) -> None:
        """One batch of ``examples`` is trained; ``metric`` holds the epoch's sums so far
        (loss, correct predictions, examples), from which the curves take their points."""
        self._batch += 1
        if self.bar is not None:
            self.bar.update(examples)
        n = self.num_batches
        if self.animator is not None and n and (self._batch % max(n // 5, 1) == 0
                                                or self._batch == n):
            # five host syncs per epoch, not one per batch
            count = metric[2]
            self.animator.add(self._epoch + self._batch / n,
                              (float(metric[0]) / count, float(metric[1]) / count, None))

    def epoch_end(self, history) -> None:
        if self.bar is not None:
            self.bar.end()
        if self.animator is not None:
            self.animator.add(history.epochs, (None, None, history.test_acc[-1]))
        if self.verbose and (self.animator is None or not self.animator.live):
            print(f"epoch {history.epochs}: loss {history.train_loss[-1]:.3f}, train acc "
                  f"{history.train_acc[-1]:.3f}, test acc {history.test_acc[-1]:.3f}")

    def interrupted(self, history) -> None:
        if self.verbose:
            print(f"interrupted: returning the {history.epochs} finished epoch(s)")

    def close(self) -> None:
        """Draw the final figure (after an error too)."""
        if self.bar is not None:
            self.bar.close()
        if self.animator is not None:
            self.animator.close()

    def summary(self, history) -> None:
        """d2l's two closing lines, if an epoch finished."""
        if self.verbose and history.epochs:
            print(history.summary())
