"""Progress within a long epoch: batches done, examples/s and time left (``tqdm``).

``train_ch6`` reports once per epoch (the Animator's curves, or a text line). When
one epoch takes a while -- AlexNet on a CPU takes many minutes -- a learner should
not stare at a frozen cell, so ``EpochProgress`` shows a bar, but only once the
epoch is predicted to take longer than ``min_seconds``: short epochs show none.

Where the bar goes:

* in a Jupyter kernel, into *one* IPython display handle that every epoch
  rewrites, so an executed notebook (nbval, the HTML book) keeps exactly one final
  line, never the hundred frames a ``\\r``-animated bar leaves in a stored output;
* in a terminal, ``tqdm.auto``'s usual bar on stderr, cleared at the end of each
  epoch (the epoch's own line follows); nothing when stderr is not a terminal
  (a log file would collect every frame).

``tqdm.auto`` would draw an ipywidgets bar in a notebook, but a stored notebook
keeps a widget only as a reference that the HTML book cannot show, and without
ipywidgets it warns and falls back to ``\\r`` frames; hence the display handle.
"""
from __future__ import annotations

import sys
import time

from .plot import in_notebook

__all__ = ["EpochProgress"]

BAR_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} batches "
              "[{elapsed}<{remaining}{postfix}]")  # tqdm puts ", " before a postfix


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
    ``look_after`` seconds) above which the bar appears; ``clock`` exists for tests.
    """

    def __init__(self, num_epochs: int, num_batches: int | None, min_seconds: float = 5.0,
                 look_after: float = 1.0, notebook: bool | None = None,
                 clock=time.perf_counter) -> None:
        self.num_epochs, self.num_batches = num_epochs, num_batches
        self.min_seconds, self.look_after = min_seconds, look_after
        self.notebook = in_notebook() if notebook is None else notebook
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
        self._decided = not self.num_batches  # no length known: no bar
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
                self._postfix(self.clock())
                self.bar.refresh()
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self.end()
