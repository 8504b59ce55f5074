"""Bad input and faults, probed: does cnncourse lose work, answer silently wrong or unclearly?

    python scripts/probe_errors.py                      # every probe; prints the table
    python scripts/probe_errors.py --out probes.json    # and every probe's row as JSON
    python scripts/probe_errors.py --only data -v       # probes whose name or category has 'data'

Issue 27 tried 138 bad inputs and faults on an older main by hand and listed what went wrong
(with issue 26's interpret list and issue 25's build-cache item). This script makes that table
reproducible. Each probe is a small function: it tries one bad input or fault and returns what
it observed and whether that is what the house rules ask for:

* **lost work**: ``train_ch6`` refuses before it touches the weights; an error after epoch k
  carries ``err.history`` with k epochs; Ctrl-C returns the history; the claims survey stops on
  Ctrl-C, keeps the previous results intact, writes by replace and leaves nothing behind a kill;
* **silently wrong**: a result that looks fine but is not (target 3.7 read as class 3, a map of
  an all-NaN image, a subset cut short, a learning rate ignored) must be an error instead;
* **unclear errors**: the message names the argument and how to fix it, and the model's state
  (train/eval flags, batch-norm statistics) is as before on every path;
* **data faults**: missing, corrupt and truncated files in a ``CNNCOURSE_DATA`` folder (a
  temporary copy of Debian's files) and a local HTTP mirror serving good, truncated, HTML,
  missing and stalled downloads;
* **Chinese catalogue**: corruptions of one ``.po`` entry (on a temporary copy) that the i18n
  check must reject, and controls it must accept;
* **build cache**: what the book build's cache key (``build_inputs``) must notice.

Every probe runs in a process of its own (forked from this one after the imports, so a probe
costs no interpreter start), with ``OMP_NUM_THREADS=1``, a temporary working folder and a
timeout; probes that need a real interrupt or kill start their own interpreters. Nothing
outside the temporary folders is written. The tiny data sets and one-epoch runs keep the whole
table to a few minutes of CPU.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import gzip  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
CATEGORIES = ("lost work", "silently wrong", "unclear errors", "data faults",
              "Chinese catalogue", "build cache")


# --------------------------------------------------------------------------------- the registry
@dataclasses.dataclass
class Probe:
    name: str
    category: str
    tried: str
    expected: str
    run: Callable[[Path], tuple[str, bool]]
    timeout: float = 120


PROBES: list[Probe] = []


def probe(category: str, tried: str, expected: str, timeout: float = 120,
          name: str | None = None):
    """Register ``fn(tmp) -> (observed, ok)`` as a probe (``name``: else the function's)."""
    assert category in CATEGORIES, category

    def register(fn):
        label = "".join(c if c.isascii() and c.isalnum() else "_" for c in (name or fn.__name__))
        PROBES.append(Probe(re.sub("_+", "_", label).strip("_")[:50], category, tried, expected,
                            fn, timeout))
        return fn
    return register


def _message(err: BaseException) -> str:
    return " ".join([str(err), *getattr(err, "__notes__", [])])


def raises(call: Callable, types, *words: str, also: Callable[[], tuple[str, bool]] | None = None
           ) -> tuple[str, bool]:
    """``call()`` must raise one of ``types`` whose message has every word of ``words``
    (case-insensitive); ``also`` adds a second condition (e.g. the weights untouched)."""
    try:
        result = call()
    except BaseException as err:  # noqa: BLE001 -- what it raised is the observation
        if isinstance(err, (SystemExit, KeyboardInterrupt)) and not isinstance(err, types):
            raise
        text = _message(err)
        missing = [w for w in words if w.lower() not in text.lower()]
        observed = f"{type(err).__name__}: {_short(text)}"
        ok = isinstance(err, types) and not missing
        if missing:
            observed += f" [message lacks {missing}]"
    else:
        observed, ok = f"no error; returned {_short(repr(result), 120)}", False
    if also is not None:
        more, fine = also()
        observed += f"; {more}"
        ok = ok and fine
    return observed, ok


def _short(text: str, n: int = 230) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 3] + "..."


# --------------------------------------------------------------------------------- fixtures
_CACHE: dict = {}


def tiny_tensors():
    """512 real test images and labels (read once, before the probes fork)."""
    if "xy" not in _CACHE:
        from cnncourse.data import read_idx
        X = read_idx(DEBIAN / "t10k-images-idx3-ubyte.gz", 3)[:512].clone()
        y = read_idx(DEBIAN / "t10k-labels-idx1-ubyte.gz", 1)[:512].long().clone()
        _CACHE["xy"] = (X, y)
    return _CACHE["xy"]


def loaders(n_train: int = 256, n_test: int = 128, batch: int = 64):
    from cnncourse.data import TensorLoader
    X, y = tiny_tensors()
    return (TensorLoader(X[:n_train], y[:n_train], batch, shuffle=True, num_classes=10),
            TensorLoader(X[256:256 + n_test], y[256:256 + n_test], batch, num_classes=10))


def batches(n: int = 4, batch: int = 32):
    """A plain list of (X, y) batches (an iterable that is not a TensorLoader)."""
    X, y = tiny_tensors()
    Xf = X[:n * batch].unsqueeze(1).float() / 255
    return [(Xf[i:i + batch], y[i:i + batch]) for i in range(0, n * batch, batch)]


def small_cnn(classes: int = 10, seed: int = 0):
    import torch
    from torch import nn
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 14 * 14, classes))


def bn_cnn(seed: int = 0):
    """For the attribution probes: batch norm (whose statistics a wrong mode would change) and
    a hidden Linear layer that is not the output. Nodes: 0 conv, 1 bn, 2 relu, 3 conv, 4 relu,
    5 pool, 6 flatten, 7 linear (hidden), 8 relu, 9 linear (output)."""
    import torch
    from torch import nn
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                        nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 10))
    return net.eval()


def images(n: int = 2):
    X, _ = tiny_tensors()
    return X[:n].unsqueeze(1).float() / 255


def snapshot(net) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def untouched(net, before: dict) -> Callable[[], tuple[str, bool]]:
    """A check for ``raises(also=...)``: every weight and buffer is as before."""
    def check():
        import torch
        changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]
        return (f"changed: {changed[:3]}" if changed else "weights untouched"), not changed
    return check


def train(net, train_iter, test_iter, num_epochs=1, lr=0.1, **kw):
    from cnncourse.train import train_ch6
    kw.setdefault("animate", False)
    kw.setdefault("verbose", False)
    kw.setdefault("device", "cpu")
    return train_ch6(net, train_iter, test_iter, num_epochs, lr, **kw)


def data_copy(tmp: Path, copy: tuple[str, ...] = ()) -> Path:
    """A data folder in ``tmp``: links to Debian's four files, real copies of ``copy``."""
    folder = tmp / "fm"
    folder.mkdir(exist_ok=True)
    for name in FILES:
        if name in copy:
            shutil.copyfile(DEBIAN / name, folder / name)
        else:
            (folder / name).symlink_to(DEBIAN / name)
    os.environ["CNNCOURSE_DATA"] = str(folder)
    return folder


def load_module(name: str):
    """``claims`` / ``build_book`` / ``i18n``: from bookfactory/ when moved there, else from
    their old homes (scripts/, tools/). Loaded once: the forked probes share what the parent
    loaded (the i18n templates, extracted once) and change only their own copy."""
    if ("module", name) not in _CACHE:
        _CACHE["module", name] = _load_module(name)
    return _CACHE["module", name]


def _load_module(name: str):
    if (ROOT / "bookfactory" / f"{name}.py").is_file():
        sys.path.insert(0, str(ROOT))
        return importlib.import_module(f"bookfactory.{name}")
    path = ROOT / ("scripts" if name == "claims" else "tools") / f"{name}.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"probe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_path(name: str) -> Path:
    moved = ROOT / "bookfactory" / f"{name}.py"
    return moved if moved.is_file() else ROOT / ("scripts" if name == "claims" else "tools") / (
        f"{name}.py")


def child_env(tmp: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CNNCOURSE_CLAIMS", "CNNCOURSE_SEED", "CNNCOURSE_CHAPTER")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TMPDIR=str(tmp / "tmpdir"), **extra)
    (tmp / "tmpdir").mkdir(exist_ok=True)
    return env


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 150) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# ================================================================================= lost work
@probe("lost work", "train_ch6 on a model whose every parameter is frozen",
       "a ValueError saying so, before the Xavier init touches a weight")
def frozen_model(tmp):
    net = small_cnn()
    for p in net.parameters():
        p.requires_grad_(False)
    before = snapshot(net)
    return raises(lambda: train(net, *loaders()), ValueError, "frozen",
                  also=untouched(net, before))


@probe("lost work", "train_ch6 (init='xavier') on a model with a frozen pretrained first layer",
       "refused before the init, naming the frozen layer and init=None")
def frozen_part_with_init(tmp):
    net = small_cnn()
    net[0].requires_grad_(False)
    before = snapshot(net)
    return raises(lambda: train(net, *loaders()), ValueError, "init=None", "'0'",
                  also=untouched(net, before))


@probe("lost work", "train_ch6(init=None) with the first layer frozen",
       "trains the rest; the frozen layer keeps its weights")
def frozen_part_kept(tmp):
    import torch
    net = small_cnn()
    net[0].requires_grad_(False)
    w0, w4 = net[0].weight.clone(), net[4].weight.clone()
    h = train(net, *loaders(), init=None)
    same, moved = torch.equal(w0, net[0].weight), not torch.equal(w4, net[4].weight)
    return f"{h!r}; frozen kept: {same}; last layer trained: {moved}", same and moved


class FailingIter:
    """Batches that raise ``exc`` at the start of epoch ``fail_at`` (1-based)."""

    def __init__(self, fail_at: int, exc: BaseException, n: int = 4):
        self.batches, self.fail_at, self.exc, self.epoch = batches(n), fail_at, exc, 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        self.epoch += 1
        if self.epoch == self.fail_at:
            yield self.batches[0]
            raise self.exc
        yield from self.batches


def history_after(call, k: int, types=Exception, *words: str) -> tuple[str, bool]:
    """``call`` must raise (one of ``types``) with ``err.history`` holding ``k`` epochs and a
    note saying how to get it (and a message with each of ``words``)."""
    try:
        result = call()
    except types as err:
        h = getattr(err, "history", None)
        epochs = getattr(h, "epochs", None)
        noted = "err.history" in _message(err)
        missing = [w for w in words if w not in _message(err)]
        return (f"{type(err).__name__}: {_short(str(err), 100)}; err.history: {epochs} epoch(s)"
                f"; note says how: {noted}" + (f"; lacks {missing}" if missing else "")), (
            epochs == k and noted and not missing)
    return f"no error; returned {result!r}", False


@probe("lost work", "a training iterator that raises OSError in epoch 3 (of 4)",
       "the OSError carries err.history with the 2 finished epochs")
def oserror_epoch3(tmp):
    _, test = loaders()
    return history_after(lambda: train(small_cnn(), FailingIter(3, OSError("disk gone")), test,
                                       num_epochs=4), 2, OSError)


@probe("lost work", "a one-shot iterable with __len__ (empty in epoch 2 of 3)",
       "an error saying the iterable is one-shot, with err.history of the 1 finished epoch")
def oneshot_with_len(tmp):
    class OneShot:
        def __init__(self, b):
            self.it, self.n = iter(b), len(b)

        def __len__(self):
            return self.n

        def __iter__(self):
            return self.it
    _, test = loaders()
    return history_after(lambda: train(small_cnn(), OneShot(batches()), test, num_epochs=3), 1)


@probe("lost work", "the test iterator fails (RuntimeError) in epoch 2's evaluation",
       "err.history holds epoch 1")
def test_iter_fails(tmp):
    train_iter, _ = loaders()
    test = FailingIter(3, RuntimeError("test set unreadable"))  # 1: the width check, 2: epoch 1
    return history_after(lambda: train(small_cnn(), train_iter, test, num_epochs=3), 1,
                         RuntimeError)


@probe("lost work", "the loss function raises in epoch 2",
       "err.history holds epoch 1")
def loss_fails(tmp):
    import torch.nn.functional as F
    calls = {"n": 0}

    def loss(y_hat, y):
        calls["n"] += 1
        if calls["n"] > 4:  # 4 batches per epoch
            raise ValueError("loss exploded in a user function")
        return F.cross_entropy(y_hat, y)
    return history_after(lambda: train(small_cnn(), batches(), loaders()[1], num_epochs=3,
                                       loss=loss), 1, ValueError)


@probe("lost work", "NaN images from epoch 2 on (the loss becomes NaN)",
       "DivergenceError with err.history of epoch 1 and advice")
def nan_from_epoch2(tmp):
    class Poisoned(FailingIter):
        def __iter__(self):
            self.epoch += 1
            for X, y in self.batches:
                yield (X * float("nan") if self.epoch >= 2 else X), y
    from cnncourse.train import DivergenceError
    return history_after(lambda: train(small_cnn(), Poisoned(9, None), loaders()[1],
                                       num_epochs=3), 1, DivergenceError)


@probe("lost work", "NaN images from the first batch on (the loss is NaN in epoch 1)",
       "DivergenceError naming the lr and a smaller one, err.history attached (0 epochs)")
def nan_epoch1(tmp):
    class Poisoned(FailingIter):
        def __iter__(self):
            for X, y in self.batches:
                yield X * float("nan"), y
    from cnncourse.train import DivergenceError
    return history_after(lambda: train(small_cnn(), Poisoned(9, None), loaders()[1],
                                       lr=0.3, num_epochs=2), 0, DivergenceError,
                         "lr=0.3", "0.03")


@probe("lost work", "KeyboardInterrupt (Ctrl-C) raised in epoch 2 of 3",
       "train_ch6 returns the history: 1 epoch, interrupted=True, no exception")
def ctrl_c_epoch2(tmp):
    h = train(small_cnn(), FailingIter(2, KeyboardInterrupt()), loaders()[1], num_epochs=3)
    return f"returned {h!r}, interrupted={h.interrupted}", h.epochs == 1 and h.interrupted


@probe("lost work", "KeyboardInterrupt in the first epoch",
       "returns an empty history marked interrupted (summary: 'no epoch finished')")
def ctrl_c_epoch1(tmp):
    h = train(small_cnn(), FailingIter(1, KeyboardInterrupt()), loaders()[1], num_epochs=2)
    return f"returned {h!r}, {h.summary()!r}", h.epochs == 0 and h.interrupted


TRAIN_SIGINT = """
import json, os, sys, time
import torch
sys.path.insert(0, sys.argv[1])
from probe_errors import small_cnn, batches, loaders, train
from pathlib import Path
class Slow:
    def __init__(self): self.b, self.epoch = batches(), 0
    def __len__(self): return len(self.b)
    def __iter__(self):
        self.epoch += 1
        if self.epoch == 3:
            Path("waiting").write_text("")
            time.sleep(120)
        yield from self.b
h = train(small_cnn(), Slow(), loaders()[1], num_epochs=5)
print(json.dumps({"epochs": h.epochs, "interrupted": h.interrupted}))
"""


@probe("lost work", "a real SIGINT (Ctrl-C) sent to a Python process training in epoch 3",
       "train_ch6 returns the 2 finished epochs; the script goes on and prints them", timeout=150)
def sigint_process(tmp):
    (tmp / "run.py").write_text(TRAIN_SIGINT)
    proc = subprocess.Popen([sys.executable, "run.py", str(Path(__file__).parent)], cwd=tmp,
                            env=child_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if not wait_for(tmp / "waiting", proc):
        return f"never reached epoch 3: {proc.communicate()[1][-300:]}", False
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    try:
        got = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"rc {proc.returncode}: {_short(err[-300:])}", False
    return f"rc {proc.returncode}, printed {got}", got == {"epochs": 2, "interrupted": True}


def _bad_arg_keeps_weights(kwargs: dict, types, *words, net=None, data=None):
    net = small_cnn() if net is None else net
    before = snapshot(net)
    train_iter, test_iter = loaders() if data is None else data
    args = dict(num_epochs=1, lr=0.1)
    args.update(kwargs)
    return raises(lambda: train(net, train_iter, test_iter, **args), types, *words,
                  also=untouched(net, before))


@probe("lost work", "train_ch6 with a model whose 5 outputs do not fit the 10 classes",
       "refused before the init: weights untouched, the message names nn.Linear(..., 10)")
def width_before_init(tmp):
    return _bad_arg_keeps_weights({}, ValueError, "10", net=small_cnn(classes=5))


@probe("lost work", "train_ch6 with loss='mse' (a string, not a function)",
       "refused before the init touches the weights, naming loss")
def loss_string(tmp):
    return _bad_arg_keeps_weights({"loss": "mse"}, (TypeError, ValueError), "loss")


@probe("lost work", "train_ch6 with a float64 model",
       "refused before the init: weights untouched; says net.float()")
def float64_before_init(tmp):
    return _bad_arg_keeps_weights({}, TypeError, "net.float()", net=small_cnn().double())


@probe("lost work", "check_arguments' width check on a batch-norm model in training mode",
       "the model's mode and batch-norm statistics are as before the check")
def width_check_keeps_bn(tmp):
    import torch
    from cnncourse.checks import check_arguments
    net = bn_cnn().train()
    before = snapshot(net)
    check_arguments(net, *loaders(), 1, 0.1, None, "xavier")
    same = all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    return f"training flag {net.training}, state unchanged {same}", net.training and same


# --- the claims survey (bookfactory/claims.py)
SLEEPY = """\
---
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# A chapter

```{code-cell} ipython3
import os
import time
from pathlib import Path
import cnncourse as d2l
SEED = d2l.run_seed()
d2l.claim("sleepy: the seed", SEED, below=5)
if SEED == 1 and not Path("go-on").exists():
    Path("started").write_text(str(os.getpid()))
    try:
        time.sleep(600)
    except KeyboardInterrupt:  # as train_ch6 does: keep what there is and go on
        time.sleep(600)
```
"""

DRIVER = """\
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from probe_errors import load_module
script = load_module("claims")
script.CHAPTERS = Path(sys.argv[2])
sys.exit(script.main(sys.argv[3:]))
"""

PREVIOUS = '{"the last survey": true}\n'


def start_survey(tmp: Path, *args: str) -> subprocess.Popen:
    (tmp / "sleepy.md").write_text(SLEEPY)
    (tmp / "driver.py").write_text(DRIVER)
    return subprocess.Popen(
        [sys.executable, "driver.py", str(Path(__file__).parent), str(tmp), "--budget", "smoke",
         "--seeds", "0", "1", "2", "--chapters", "sleepy", "--out", str(tmp / "claims.json"),
         *args], env=child_env(tmp), cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in (tmp / "tmpdir").iterdir()) + sorted(
        p.name for p in tmp.glob(".claims.json*")) + sorted(p.name for p in tmp.glob("*.tmp"))


def _interrupt_survey(tmp: Path, signum: int, *args: str) -> tuple[str, bool]:
    out = tmp / "claims.json"
    out.write_text(PREVIOUS)
    proc = start_survey(tmp, *args)
    if not wait_for(tmp / "started", proc):
        return f"seed 1 never started: {_short(proc.communicate()[0][-400:])}", False
    kernel = int((tmp / "started").read_text())
    proc.send_signal(signum)
    try:
        log = proc.communicate(timeout=90)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return "still running 90 s after the signal (waited for the cell)", False
    time.sleep(0.5)
    alive = Path(f"/proc/{kernel}").exists() and "zombie" not in Path(
        f"/proc/{kernel}/status").read_text(errors="replace")
    facts = {"rc": proc.returncode, "FAILED in log": "FAILED" in log,
             "went on to seed 2": "seed 2" in log, "previous file intact":
             out.read_text() == PREVIOUS, "journal kept": (tmp / "claims.partial.jsonl").exists(),
             "kernel still running": alive, "leftovers": leftovers(tmp)}
    ok = (facts["rc"] == 130 and not facts["FAILED in log"] and not facts["went on to seed 2"]
          and facts["previous file intact"] and facts["journal kept"] and not alive
          and not facts["leftovers"])
    return json.dumps(facts), ok


@probe("lost work", "Ctrl-C (SIGINT) to the claims survey while a chapter's cell runs",
       "exit 130 at once, no 'FAILED' run, no next seed, previous results file intact, journal "
       "kept for --resume, the chapter's kernel stopped, nothing left in TMPDIR", timeout=200)
def survey_ctrl_c(tmp):
    return _interrupt_survey(tmp, signal.SIGINT)


@probe("lost work", "SIGTERM to the claims survey while a chapter runs",
       "as Ctrl-C: stop, keep the previous results intact", timeout=200)
def survey_sigterm(tmp):
    return _interrupt_survey(tmp, signal.SIGTERM)


@probe("lost work", "Ctrl-C during `claims.py --update` of one chapter",
       "the earlier results file is byte for byte as before (no partial rows)", timeout=200)
def survey_update_interrupted(tmp):
    # --update needs a results file of the same plan: make one by a complete survey first
    (tmp / "go-on").write_text("")
    first = start_survey(tmp)
    log = first.communicate(timeout=150)[0]
    if first.returncode != 0:
        return f"the first survey failed: {_short(log[-300:])}", False
    before = (tmp / "claims.json").read_bytes()
    (tmp / "go-on").unlink()
    proc = start_survey(tmp, "--update")
    if not wait_for(tmp / "started", proc):
        return f"seed 1 never started: {_short(proc.communicate()[0][-300:])}", False
    proc.send_signal(signal.SIGINT)
    log = proc.communicate(timeout=90)[0]
    same = (tmp / "claims.json").read_bytes() == before
    return f"rc {proc.returncode}; results unchanged: {same}", proc.returncode == 130 and same


@probe("lost work", "SIGKILL to the claims survey mid-chapter, then --resume",
       "no results file, nothing in TMPDIR; --resume runs seeds 1, 2 and writes 3 runs",
       timeout=300)
def survey_sigkill(tmp):
    proc = start_survey(tmp)
    if not wait_for(tmp / "started", proc):
        return f"seed 1 never started: {_short(proc.communicate()[0][-300:])}", False
    proc.kill()
    proc.communicate(timeout=30)
    time.sleep(2)  # the orphaned kernel notices its parent is gone
    left, written = leftovers(tmp), (tmp / "claims.json").exists()
    (tmp / "go-on").write_text("")
    resumed = start_survey(tmp, "--resume")
    log = resumed.communicate(timeout=200)[0]
    try:
        result = json.loads((tmp / "claims.json").read_text())
        seeds = [r["seed"] for r in result["runs"]]
        counted = result["claims"][0]["runs"]
    except (OSError, ValueError, KeyError, IndexError):
        return f"after kill: leftovers {left}; resume rc {resumed.returncode}: " \
               f"{_short(log[-300:])}", False
    facts = {"leftovers after kill": left, "results written by the killed run": written,
             "resume rc": resumed.returncode, "seeds": seeds, "claim counted": counted,
             "journal gone": not (tmp / "claims.partial.jsonl").exists()}
    ok = (not left and not written and resumed.returncode == 0 and seeds == [0, 1, 2]
          and counted == 3 and facts["journal gone"])
    return json.dumps(facts), ok


@probe("lost work", "a second survey started over the journal of an interrupted one",
       "refused (exit 2) saying --resume; the journal is not thrown away", timeout=200)
def survey_journal_not_dropped(tmp):
    (tmp / "claims.partial.jsonl").write_text(json.dumps({"plan": {"x": 1}}) + "\n")
    proc = start_survey(tmp)
    log = proc.communicate(timeout=60)[0]
    kept = (tmp / "claims.partial.jsonl").exists()
    return f"rc {proc.returncode}; says --resume: {'--resume' in log}; journal kept {kept}", (
        proc.returncode == 2 and "--resume" in log and kept)


@probe("lost work", "write_atomically over an existing results file",
       "the file is replaced (new inode), nothing left aside")
def survey_atomic_write(tmp):
    script = load_module("claims")
    path = tmp / "results" / "claims-smoke.json"
    path.parent.mkdir()
    path.write_text("old\n")
    inode = path.stat().st_ino
    script.write_atomically(path, "new\n")
    aside = [p.name for p in path.parent.iterdir() if p.name != path.name]
    ok = path.read_text() == "new\n" and path.stat().st_ino != inode and not aside
    return f"content {path.read_text()!r}, new inode {path.stat().st_ino != inode}, " \
           f"aside {aside}", ok


@probe("lost work", "write_atomically into a read-only folder (the write fails)",
       "an error; the old file intact; no half file")
def survey_atomic_write_fails(tmp):
    script = load_module("claims")
    path = tmp / "r" / "claims-smoke.json"
    path.parent.mkdir()
    path.write_text("old\n")
    real = os.replace

    def failing(*a):
        raise OSError("disk full (simulated)")
    script.os.replace = failing
    try:
        out, ok = raises(lambda: script.write_atomically(path, "new\n"), OSError, "disk full")
    finally:
        script.os.replace = real
    rest = sorted(p.name for p in path.parent.iterdir())
    kept = path.read_text() == "old\n"
    return out + f"; old kept {kept}; folder {rest}", ok and kept and rest == [path.name]


@probe("lost work", "the claims page stamp after a new survey (book/claims.md on a copy)",
       "the page is replaced by rename, its stamp line names the new survey's hash")
def survey_page_stamp(tmp):
    script = load_module("claims")
    page, results = tmp / "claims.md", tmp / "results"
    results.mkdir()
    page.write_text(f"# page\n```\n{script.STAMP}none yet\n```\n")
    (results / "claims-smoke.json").write_text("{}\n")
    inode = page.stat().st_ino
    line = script.stamp_page(page, results)
    ok = line in page.read_text() and "claims-smoke" in line and page.stat().st_ino != inode
    return f"{line!r}; replaced: {page.stat().st_ino != inode}", ok


@probe("lost work", "a journal whose last line a kill cut off midway",
       "read_journal keeps the finished runs only (the cut run's claims are dropped)")
def survey_cut_journal(tmp):
    script = load_module("claims")
    j = tmp / "j.jsonl"
    lines = [{"plan": {"p": 1}}, {"chapter": "c", "name": "n", "value": 1.0},
             {"run": {"chapter": "c", "seed": 0, "combo": "x"}},
             {"chapter": "c", "name": "n", "value": 2.0}]
    j.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"run": {"chap')
    plan, runs, entries = script.read_journal(j)
    ok = plan == {"p": 1} and len(runs) == 1 and [e["value"] for e in entries] == [1.0]
    return f"plan {plan}, {len(runs)} run(s), values {[e['value'] for e in entries]}", ok


# ============================================================================= silently wrong
def attribution(name):
    import cnncourse.attribution as a
    return getattr(a, name)


METHODS = ("saliency", "smoothgrad", "input_x_gradient", "integrated_gradients", "occlusion",
           "grad_cam")


def call_method(method: str, x, target, net=None, **kw):
    net = bn_cnn() if net is None else net
    if method == "grad_cam":
        kw.setdefault("layer", "3")
    if method == "smoothgrad":
        import torch
        kw.setdefault("n", 2)
        kw.setdefault("generator", torch.Generator().manual_seed(0))  # the same noise each call
    if method == "integrated_gradients":
        kw.setdefault("steps", 2)
    return attribution(method)(net, x, target, **kw)


for _m in METHODS:
    def _target_float(tmp, m=_m):
        return raises(lambda: call_method(m, images(), 3.7), ValueError, "target", "integer")
    probe("silently wrong", f"{_m} with target 3.7",
          "a ValueError naming target (not a map of class 3)",
          name=f"target_float_{_m}")(_target_float)

    def _nan_image(tmp, m=_m):
        x = images()
        x[:] = float("nan")
        return raises(lambda: call_method(m, x, 1), ValueError, "NaN")
    probe("silently wrong", f"{_m} of an all-NaN image",
          "a ValueError naming the NaN pixels (not a finite map)",
          name=f"nan_image_{_m}")(_nan_image)


@probe("silently wrong", "saliency of an image with one +inf pixel",
       "a ValueError naming the infinite pixels")
def inf_pixel(tmp):
    x = images()
    x[0, 0, 3, 3] = float("inf")
    return raises(lambda: call_method("saliency", x, 1), ValueError, "infinite")


@probe("silently wrong", "saliency with target True (a bool)",
       "a ValueError: class indices are integers")
def target_bool(tmp):
    return raises(lambda: call_method("saliency", images(), True), ValueError, "target")


@probe("silently wrong", "saliency with targets [1, 2, 3] for 2 images",
       "a ValueError naming the number of images")
def target_length(tmp):
    return raises(lambda: call_method("saliency", images(), [1, 2, 3]), ValueError, "target",
                  "2")


@probe("silently wrong", "subset=10**6 (more than the 60,000 training images)",
       "a ValueError naming subset and the 60,000 there are (not a silent cut)")
def subset_too_big(tmp):
    from cnncourse.data import load_data_fashion_mnist
    data_copy(tmp)
    return raises(lambda: load_data_fashion_mnist(64, subset=10 ** 6), ValueError, "subset",
                  "60,000")


@probe("silently wrong", "test_subset=20,000 (more than the 10,000 test images)",
       "a ValueError naming test_subset")
def test_subset_too_big(tmp):
    from cnncourse.data import load_data_fashion_mnist
    data_copy(tmp)
    return raises(lambda: load_data_fashion_mnist(64, subset=100, test_subset=20_000),
                  ValueError, "test_subset", "10,000")


@probe("silently wrong", "train_ch6(lr=0.1, optimizer=SGD(params, lr=0.5))",
       "a ValueError naming both rates (not training at 0.5 while the call says 0.1)")
def lr_ignored(tmp):
    import torch
    net = small_cnn()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    before = snapshot(net)
    return raises(lambda: train(net, *loaders(), lr=0.1, optimizer=opt), ValueError, "0.5",
                  "0.1", "lr=None", also=untouched(net, before))


@probe("silently wrong", "train_ch6(lr=None, optimizer=SGD(params, lr=0.5))",
       "trains at the optimiser's own rate 0.5 (lr=None means 'its own')")
def lr_none_own(tmp):
    import torch
    net = small_cnn()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    h = train(net, *loaders(), lr=None, optimizer=opt)
    lr = opt.param_groups[0]["lr"]
    return f"{h!r}; optimiser lr {lr}", h.epochs == 1 and lr == 0.5


@probe("silently wrong", "train_ch6 with a model of 12 outputs on 10-class loaders",
       "a ValueError: the last layer has 12 outputs, the data 10 classes")
def width_too_wide(tmp):
    return _bad_arg_keeps_weights({}, ValueError, "12", "10", net=small_cnn(classes=12))


@probe("silently wrong", "train_ch6 with 12 outputs on plain-list data (no num_classes)",
       "accepted: a model may have more outputs than the labels seen (control)")
def width_wider_list_ok(tmp):
    h = train(small_cnn(classes=12), batches(), batches(2))
    return repr(h), h.epochs == 1


@probe("silently wrong", "train_ch6 with a model returning (N, C, H, W) maps",
       "a ValueError suggesting nn.Flatten()")
def output_4d(tmp):
    from torch import nn
    net = nn.Sequential(nn.Conv2d(1, 10, 3))
    return _bad_arg_keeps_weights({}, ValueError, "Flatten", net=net)


@probe("silently wrong", "evaluate_accuracy_gpu on an empty list",
       "a ValueError (not 0/0 or accuracy 0)")
def eval_empty(tmp):
    from cnncourse.evaluate import evaluate_accuracy_gpu
    return raises(lambda: evaluate_accuracy_gpu(small_cnn(), []), ValueError, "no batches")


@probe("silently wrong", "evaluate_loss on an exhausted generator",
       "a ValueError (not NaN)")
def eval_loss_empty(tmp):
    from torch import nn
    from cnncourse.evaluate import evaluate_loss
    gen = iter(batches(1))
    list(gen)
    return raises(lambda: evaluate_loss(small_cnn(), gen, nn.CrossEntropyLoss()), ValueError,
                  "no batches")


@probe("silently wrong", "get_fashion_mnist_labels([-1])",
       "an error (not 'ankle boot' by Python's negative indexing)")
def labels_negative(tmp):
    from cnncourse.data import get_fashion_mnist_labels
    return raises(lambda: get_fashion_mnist_labels([-1]), (ValueError, IndexError), "-1")


@probe("silently wrong", "get_fashion_mnist_labels([3.7])",
       "an error (not 'dress', class 3)")
def labels_float(tmp):
    from cnncourse.data import get_fashion_mnist_labels
    return raises(lambda: get_fashion_mnist_labels([3.7]), (ValueError, TypeError), "3.7")


@probe("silently wrong", "get_fashion_mnist_labels(torch.tensor([0, 9]))",
       "['t-shirt', 'ankle boot'] (control)")
def labels_ok(tmp):
    import torch
    from cnncourse.data import get_fashion_mnist_labels
    got = get_fashion_mnist_labels(torch.tensor([0, 9]))
    return repr(got), got == ["t-shirt", "ankle boot"]


@probe("silently wrong", "claim('x', float('nan'), above=0) outside a survey",
       "a ClaimError: NaN never holds")
def claim_nan(tmp):
    from cnncourse.claims import ClaimError, claim
    os.environ.pop("CNNCOURSE_CLAIMS", None)
    return raises(lambda: claim("x: nan", float("nan"), above=0), ClaimError, "x: nan")


@probe("silently wrong", "claim in a survey with a NaN value",
       "recorded with held=false (not dropped, not true)")
def claim_nan_survey(tmp):
    from cnncourse.claims import claim
    os.environ["CNNCOURSE_CLAIMS"] = str(tmp / "rec.jsonl")
    claim("x: nan", float("nan"), above=0)
    rec = json.loads((tmp / "rec.jsonl").read_text())
    return json.dumps(rec)[:150], rec["held"] is False and math.isnan(rec["value"])


@probe("silently wrong", "two loaders with the same seed, two epochs each",
       "the same batches in the same order (the survey's seeds repeat exactly)")
def loader_repeats(tmp):
    import torch
    from cnncourse.data import TensorLoader
    X, y = tiny_tensors()
    a = TensorLoader(X[:100], y[:100], 32, shuffle=True, seed=3)
    b = TensorLoader(X[:100], y[:100], 32, shuffle=True, seed=3)
    same = all(torch.equal(p[1], q[1]) for _ in range(2) for p, q in zip(a, b))
    return f"same order: {same}", same


@probe("silently wrong", "load_data_fashion_mnist(seed=np.int64(1)) vs seed=1",
       "accepted, and the same sample as seed=1")
def seed_numpy(tmp):
    import numpy as np
    import torch
    from cnncourse.data import load_data_fashion_mnist
    data_copy(tmp)
    a, _ = load_data_fashion_mnist(32, subset=64, test_subset=32, seed=np.int64(1))
    b, _ = load_data_fashion_mnist(32, subset=64, test_subset=32, seed=1)
    same = torch.equal(a.labels, b.labels)
    return f"same sample {same}", same


@probe("silently wrong", "occlusion with stride 3 > window 2",
       "accepted; pixels no patch covers are 0 (documented), not NaN")
def occlusion_gaps(tmp):
    import torch
    m = call_method("occlusion", images(1), 1, window=2, stride=3)
    return f"finite {bool(torch.isfinite(m).all())}", bool(torch.isfinite(m).all())


@probe("silently wrong", "spearman of a constant (all-zero) map against another map",
       "NaN, counted by the caller (not 0, which would pass for 'unrelated'; issue 26 item 4)")
def spearman_constant(tmp):
    import torch
    from cnncourse.sanity import spearman
    rho = spearman(torch.zeros(1, 1, 4, 4), torch.rand(1, 1, 4, 4))
    return f"rho {rho.tolist()}", bool(torch.isnan(rho).all())


@probe("silently wrong", "deletion_curve with a NaN heat map",
       "a ValueError: NaN cannot rank the pixels (not an arbitrary order)")
def deletion_nan_heat(tmp):
    import torch
    from cnncourse.sanity import deletion_curve
    heat = torch.full((2, 1, 28, 28), float("nan"))
    return raises(lambda: deletion_curve(bn_cnn(), images(), 1, heat, [0, 0.5]), ValueError,
                  "NaN")


@probe("silently wrong", "randomized_copies(model, blocks)",
       "the caller's global random state as before (the next experiment unchanged)")
def randomized_keeps_rng(tmp):
    import torch
    from cnncourse.sanity import randomized_copies
    net = bn_cnn()  # (seeds itself)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    randomized_copies(net, ["9", "7"])
    same = torch.equal(torch.rand(3), expected)
    return f"random state kept: {same}", same


# ============================================================================= unclear errors
@probe("unclear errors", "evaluate_accuracy_gpu with a float64 model (issue 27 item 4)",
       "a TypeError naming float64 and net.float()")
def eval_float64(tmp):
    from cnncourse.evaluate import evaluate_accuracy_gpu
    return raises(lambda: evaluate_accuracy_gpu(small_cnn().double(), loaders()[1]), TypeError,
                  "float64", "net.float()")


@probe("unclear errors", "evaluate_accuracy_gpu with a half model",
       "a TypeError naming float16 and net.float()")
def eval_half(tmp):
    from cnncourse.evaluate import evaluate_accuracy_gpu
    return raises(lambda: evaluate_accuracy_gpu(small_cnn().half(), loaders()[1]), TypeError,
                  "float16", "net.float()")


@probe("unclear errors", "evaluate_loss with a float64 model",
       "a TypeError naming float64 and net.float()")
def evalloss_float64(tmp):
    from torch import nn
    from cnncourse.evaluate import evaluate_loss
    return raises(lambda: evaluate_loss(small_cnn().double(), loaders()[1],
                                        nn.CrossEntropyLoss()), TypeError, "net.float()")


@probe("unclear errors", "evaluate_accuracy_gpu with a float64 model and float64 data",
       "works (control: the dtypes agree)")
def eval_float64_ok(tmp):
    from cnncourse.evaluate import evaluate_accuracy_gpu
    data = [(X.double(), y) for X, y in batches(2)]
    acc = evaluate_accuracy_gpu(small_cnn().double(), data)
    return f"accuracy {acc:.3f}", 0 <= acc <= 1


CLAIMS_BAD = [
    ("None value", dict(value=None, above=0), TypeError, ["claim 'c: x'", "one number"]),
    ("a 2-element tensor", dict(value="T2", above=0), TypeError, ["claim 'c: x'", ".item()"]),
    ("a string value", dict(value="0.5", above=0), TypeError, ["claim 'c: x'"]),
    ("above > below", dict(value=0.5, above=0.9, below=0.1), ValueError, ["c: x", "swapped"]),
    ("above == below", dict(value=0.5, above=0.5, below=0.5), ValueError, ["c: x"]),
    ("no bound", dict(value=0.5), ValueError, ["c: x", "above="]),
    ("above=None-like string '0.1'", dict(value=0.5, above="0.1"), TypeError, ["above"]),
    ("below=a 2-element list", dict(value=0.5, below=[1, 2]), TypeError, ["below"]),
]
for _i, (_label, _kw, _types, _words) in enumerate(CLAIMS_BAD):
    def _claim_bad(tmp, kw=_kw, types=_types, words=_words):
        import torch
        from cnncourse.claims import claim
        os.environ.pop("CNNCOURSE_CLAIMS", None)
        kw = dict(kw)
        value = kw.pop("value", None)
        if value == "T2":
            value = torch.tensor([0.4, 0.6])
        return raises(lambda: claim("c: x", value, **kw), types, *words)
    probe("unclear errors", f"claim('c: x', ...) with {_label} (issue 27 item 5)",
          f"{_types.__name__} naming the claim and what to pass",
          name=f"claim_{_i}_{_label}")(_claim_bad)


@probe("unclear errors", "claim with a bad bound even inside a survey (CNNCOURSE_CLAIMS set)",
       "still refused (a survey must not record a claim that can never hold)")
def claim_bad_in_survey(tmp):
    from cnncourse.claims import claim
    os.environ["CNNCOURSE_CLAIMS"] = str(tmp / "rec.jsonl")
    out, ok = raises(lambda: claim("c: x", 0.5, above=0.9, below=0.1), ValueError, "c: x")
    return out, ok and not (tmp / "rec.jsonl").exists()


@probe("unclear errors", "CNNCOURSE_SEED='abc'",
       "a ValueError naming CNNCOURSE_SEED")
def seed_env_bad(tmp):
    from cnncourse.claims import run_seed
    os.environ["CNNCOURSE_SEED"] = "abc"
    return raises(run_seed, ValueError, "CNNCOURSE_SEED")


LOAD_BAD = [
    ("seed=1.5", dict(seed=1.5), ["seed"]),
    ("seed='1'", dict(seed="1"), ["seed"]),
    ("seed=True", dict(seed=True), ["seed"]),
    ("subset=0", dict(subset=0), ["subset", "positive"]),
    ("subset=-5", dict(subset=-5), ["subset"]),
    ("subset=2.5", dict(subset=2.5), ["subset"]),
    ("test_subset=0", dict(test_subset=0), ["test_subset"]),
    ("batch_size=0", dict(batch_size=0), ["batch_size"]),
    ("batch_size=True", dict(batch_size=True), ["batch_size"]),
    ("batch_size=2.5", dict(batch_size=2.5), ["batch_size"]),
    ("resize=10000", dict(resize=10000), ["resize", "lower"]),
    ("resize=-1", dict(resize=-1), ["resize"]),
    ("resize=(28,)", dict(resize=(28,)), ["resize", "pair"]),
    ("resize=(224, 0)", dict(resize=(224, 0)), ["resize[1]"]),
    ("resize='224'", dict(resize="224"), ["resize"]),
    ("download='yes'", dict(download="yes"), ["download"]),
    ("device='gpu0'", dict(device="gpu0"), ["device", "try_gpu"]),
]
for _label, _kw, _words in LOAD_BAD:
    def _load_bad(tmp, kw=_kw, words=_words):
        import cnncourse.data as data
        data_copy(tmp)
        kw = dict(kw)
        bs = kw.pop("batch_size", 64)
        read, real = [], data.read_fashion_mnist

        def reading(*a, **k):
            read.append(a)
            return real(*a, **k)
        data.read_fashion_mnist = reading
        out, ok = raises(lambda: data.load_data_fashion_mnist(bs, **kw), ValueError, *words)
        return out + ("; only after reading the data" if read else ""), ok and not read
    probe("unclear errors", f"load_data_fashion_mnist(..., {_label}) (issue 27 item 7)",
          f"a ValueError naming {_words[0]}, raised before any data is read",
          name=f"load_{_label}")(_load_bad)


@probe("unclear errors", "read_fashion_mnist(split='val')",
       "a ValueError naming split and its two values")
def split_bad(tmp):
    from cnncourse.data import read_fashion_mnist
    return raises(lambda: read_fashion_mnist("val"), ValueError, "split", "'test'")


@probe("unclear errors", "load_data_fashion_mnist(root=123)",
       "a TypeError naming root")
def root_int(tmp):
    from cnncourse.data import load_data_fashion_mnist
    return raises(lambda: load_data_fashion_mnist(64, root=123), TypeError, "root")


@probe("unclear errors", "a relative CNNCOURSE_DATA that does not exist (issue 27 item 7)",
       "the error shows the absolute folder it resolved to")
def relative_env(tmp):
    from cnncourse.data import load_data_fashion_mnist
    os.chdir(tmp)
    os.environ["CNNCOURSE_DATA"] = "data/fmnist"
    return raises(lambda: load_data_fashion_mnist(64, download=False), FileNotFoundError,
                  "CNNCOURSE_DATA", str(tmp / "data" / "fmnist"))


@probe("unclear errors", "a mistyped root folder with download=True (issue 27 item 7)",
       "no folder created, no download; the error suggests the near name")
def mistyped_root(tmp):
    from cnncourse.data import load_data_fashion_mnist
    real = tmp / "fashion-mnist"
    data_copy(tmp).rename(real)
    os.environ.pop("CNNCOURSE_DATA")
    typo = real.with_name("fashoin-mnist")
    out, ok = raises(lambda: load_data_fashion_mnist(64, root=typo, download=True),
                     FileNotFoundError, "did you mean", str(real))
    return out + f"; created: {typo.exists()}", ok and not typo.exists()


@probe("unclear errors", "CNNCOURSE_DATA naming a file, not a folder",
       "an error saying it is a file, naming CNNCOURSE_DATA")
def env_is_file(tmp):
    from cnncourse.data import load_data_fashion_mnist
    (tmp / "f").write_text("x")
    os.environ["CNNCOURSE_DATA"] = str(tmp / "f")
    return raises(lambda: load_data_fashion_mnist(64, download=False), FileNotFoundError,
                  "is a file", "CNNCOURSE_DATA")


@probe("unclear errors", "CNNCOURSE_DATA naming an empty folder, download=False",
       "names the folder, the four missing files and how to fix it")
def env_empty_folder(tmp):
    from cnncourse.data import load_data_fashion_mnist
    (tmp / "empty").mkdir()
    os.environ["CNNCOURSE_DATA"] = str(tmp / "empty")
    return raises(lambda: load_data_fashion_mnist(64, download=False), FileNotFoundError,
                  "train-images-idx3-ubyte", "Fix")


TRAIN_BAD = [
    ("num_epochs=0", dict(num_epochs=0), ValueError, ["num_epochs"]),
    ("num_epochs=-1", dict(num_epochs=-1), ValueError, ["num_epochs"]),
    ("num_epochs=2.5", dict(num_epochs=2.5), TypeError, ["num_epochs"]),
    ("num_epochs=True", dict(num_epochs=True), TypeError, ["num_epochs"]),
    ("num_epochs='3'", dict(num_epochs="3"), TypeError, ["num_epochs"]),
    ("lr=-0.1", dict(lr=-0.1), TypeError, ["lr"]),
    ("lr=nan", dict(lr=float("nan")), TypeError, ["lr"]),
    ("lr=inf", dict(lr=float("inf")), TypeError, ["lr"]),
    ("lr='0.1'", dict(lr="0.1"), TypeError, ["lr"]),
    ("lr=True", dict(lr=True), TypeError, ["lr"]),
    ("lr=None with optimizer='sgd'", dict(lr=None), TypeError, ["lr"]),
    ("optimizer='adamw'", dict(optimizer="adamw"), ValueError, ["optimizer", "'sgd'"]),
    ("optimizer=42", dict(optimizer=42), ValueError, ["optimizer"]),
    ("init='he'", dict(init="he"), ValueError, ["init", "'xavier'"]),
    ("cpu_threads=0", dict(cpu_threads=0), ValueError, ["cpu_threads"]),
    ("cpu_threads=1.5", dict(cpu_threads=1.5), TypeError, ["cpu_threads"]),
    ("cuda_graph='yes'", dict(cuda_graph="yes"), ValueError, ["cuda_graph"]),
    ("an unknown keyword fast=True", dict(fast=True), TypeError, ["fast"]),
    ("device='tpu0'", dict(device="tpu0"), (RuntimeError, ValueError), ["tpu"]),
    ("train_iter a generator, 2 epochs", dict(num_epochs=2, _train="gen"), TypeError,
     ["train_iter", "one-shot"]),
    ("train_iter = []", dict(_train="empty"), ValueError, ["train_iter"]),
    ("test_iter = []", dict(_test="empty"), ValueError, ["test_iter"]),
    ("net a function, not a Module", dict(_net="fn"), TypeError, ["net", "Module"]),
    ("net without parameters", dict(_net="noparams"), ValueError, ["parameters"]),
    ("a half-precision model", dict(_net="half"), TypeError, ["float16", "net.float()"]),
]
for _i, (_label, _kw, _types, _words) in enumerate(TRAIN_BAD):
    def _train_bad(tmp, kw=_kw, types=_types, words=_words):
        from torch import nn
        kw = dict(kw)
        tr, te = loaders()
        which = kw.pop("_train", None)
        if which == "gen":
            tr = (b for b in batches())
        elif which == "empty":
            tr = []
        if kw.pop("_test", None) == "empty":
            te = []
        net = {"fn": None, "noparams": nn.Flatten(), "half": small_cnn().half()}.get(
            kw.pop("_net", ""), small_cnn())
        if net is None:
            return raises(lambda: train(lambda x: x, tr, te, **kw), types, *words)
        return _bad_arg_keeps_weights(kw, types, *words, net=net, data=(tr, te))
    probe("unclear errors", f"train_ch6(..., {_label})",
          f"{getattr(_types, '__name__', 'an error')} naming {_words[0]}, weights untouched",
          name=f"train_{_i}_{_label}")(_train_bad)


@probe("unclear errors", "train_ch6(device='cuda') on a machine without CUDA",
       "an error that says CUDA is not available (and try_gpu())")
def train_cuda_missing(tmp):
    import torch
    if torch.cuda.is_available():
        return "CUDA is available here: not applicable", True
    return _bad_arg_keeps_weights({"device": "cuda"}, (RuntimeError, ValueError, AssertionError),
                                  "cuda")


# --- attribution (issue 26's "Bad input (probed)")
def modes(net) -> list[bool]:
    return [m.training for m in net.modules()]


@probe("unclear errors", "grad_cam with a mistyped layer '33' on a model in eval mode",
       "a ValueError naming the layer and listing the nodes; every submodule still in eval")
def gradcam_typo_mode(tmp):
    import torch
    net = bn_cnn()
    before = snapshot(net)
    out, ok = raises(lambda: call_method("grad_cam", images(), 1, net=net, layer="33"),
                     ValueError, "'33'", "nodes")
    same = all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    evals = not any(modes(net))
    # and the next call works (no "call model.eval() first")
    try:
        call_method("grad_cam", images(), 1, net=net)
        after = "next call works"
    except Exception as err:  # noqa: BLE001
        after, evals = f"next call fails: {err}", False
    return out + f"; eval kept {evals}; state kept {same}; {after}", ok and evals and same


@probe("unclear errors", "grad_cam with a mistyped layer on a model whose head is in train mode "
       "(only the first check sees eval)", "refused; each submodule's flag as before")
def gradcam_mixed_modes(tmp):
    net = bn_cnn()
    net[9].train()  # a learner's mixed state: the check looks at the top module only
    flags = modes(net)
    out, _ = raises(lambda: call_method("grad_cam", images(), 1, net=net, layer="nope"),
                    ValueError, "nope")
    return out + f"; flags kept {modes(net) == flags}", modes(net) == flags


@probe("unclear errors", "grad_cam on the hidden Linear layer '7'",
       "a ValueError: the layer gives no feature maps (not IndexError)")
def gradcam_linear(tmp):
    return raises(lambda: call_method("grad_cam", images(), 1, layer="7"), ValueError, "'7'",
                  "feature maps")


@probe("unclear errors", "grad_cam on the output node '9'",
       "a ValueError: that is the model's output (not KeyError 'maps')")
def gradcam_output(tmp):
    return raises(lambda: call_method("grad_cam", images(), 1, layer="9"), ValueError, "'9'",
                  "output")


@probe("unclear errors", "grad_cam on a frozen model",
       "works: a map, no 'element 0 of tensors does not require grad'")
def gradcam_frozen(tmp):
    net = bn_cnn().requires_grad_(False)
    m = call_method("grad_cam", images(), 1, net=net)
    return f"map {tuple(m.shape)}", tuple(m.shape) == (2, 1, 28, 28)


for _m in METHODS:
    def _no_grad(tmp, m=_m):
        import torch
        net = bn_cnn()
        with torch.no_grad():
            a = call_method(m, images(), 1, net=net)
        with torch.inference_mode():
            x = images()  # made in inference mode too, as a transform there would
            b = call_method(m, x, 1, net=net)
        ok = bool(torch.isfinite(a).all()) and torch.allclose(a, b)
        return f"maps {tuple(a.shape)} under no_grad and inference_mode, equal {ok}", ok
    probe("unclear errors", f"{_m} under torch.no_grad() and torch.inference_mode()",
          "works (gradients switched on inside), no torch autograd error",
          name=f"nograd_{_m}")(_no_grad)

    def _t10(tmp, m=_m):
        return raises(lambda: call_method(m, images(), 10), ValueError, "target 10", "0 to 9")
    probe("unclear errors", f"{_m} with target 10 on a 10-class model",
          "a ValueError with the word target and the valid range",
          name=f"target10_{_m}")(_t10)

    def _tneg(tmp, m=_m):
        return raises(lambda: call_method(m, images(), -1), ValueError, "target", ">= 0")
    probe("unclear errors", f"{_m} with target -1",
          "a ValueError naming target (not class 9 by negative indexing)",
          name=f"targetneg_{_m}")(_tneg)

    def _train_mode(tmp, m=_m):
        return raises(lambda: call_method(m, images(), 1, net=bn_cnn().train()), ValueError,
                      "model.eval()")
    probe("unclear errors", f"{_m} on a model in training mode",
          "a ValueError: call model.eval() first",
          name=f"trainmode_{_m}")(_train_mode)

ATTR_BAD = [
    ("occlusion", dict(stride=-2), ["stride"]),
    ("occlusion", dict(stride=0), ["stride"]),
    ("occlusion", dict(window=0), ["window"]),
    ("occlusion", dict(window=2.5), ["window"]),
    ("integrated_gradients", dict(steps=0), ["steps"]),
    ("integrated_gradients", dict(steps=-3), ["steps"]),
    ("integrated_gradients", dict(steps=2.0), ["steps"]),
    ("smoothgrad", dict(n=0), ["n "]),
    ("smoothgrad", dict(n=-1), ["n "]),
    ("smoothgrad", dict(noise_level=-0.1), ["noise_level"]),
    ("smoothgrad", dict(noise_level=float("nan")), ["noise_level"]),
]
for _m, _kw, _words in ATTR_BAD:
    def _attr_bad(tmp, m=_m, kw=_kw, words=_words):
        return raises(lambda: call_method(m, images(), 1, **kw), ValueError, *words)
    _label = ", ".join(f"{k}={v!r}" for k, v in _kw.items())
    probe("unclear errors", f"{_m}(..., {_label})",
          f"a ValueError naming {_words[0].strip()} (not a zero/NaN map or a range() error)",
          name=f"{_m[:5]}_{_label}")(_attr_bad)


@probe("unclear errors", "saliency of a single image of shape (1, 28, 28)",
       "a ValueError suggesting x[None]")
def attr_3d(tmp):
    return raises(lambda: call_method("saliency", images(1)[0], 1), ValueError, "x[None]")


@probe("unclear errors", "place_grid(step=0)",
       "a ValueError naming step")
def place_grid_zero(tmp):
    import torch
    from cnncourse.attribution import place_grid
    return raises(lambda: place_grid(torch.ones(1, 1, 4, 4), (28, 28), 0, 1.5), ValueError,
                  "step")


@probe("unclear errors", "grad_cam with target 10 on an eval model",
       "refused; the model stays in eval and its batch-norm statistics unchanged")
def gradcam_t10_state(tmp):
    import torch
    net = bn_cnn()
    before = snapshot(net)
    out, ok = raises(lambda: call_method("grad_cam", images(), 10, net=net), ValueError, "target")
    same = all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    return out + f"; eval {not any(modes(net))}; state kept {same}", (
        ok and same and not any(modes(net)))


@probe("unclear errors", "spearman of maps of two shapes",
       "a ValueError naming both shapes")
def spearman_shapes(tmp):
    import torch
    from cnncourse.sanity import spearman
    return raises(lambda: spearman(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 5, 5)), ValueError,
                  "(2, 1, 4, 4)", "(2, 1, 5, 5)")


@probe("unclear errors", "randomized_copies with a block name that is not a submodule",
       "an error naming the block (and, ideally, the model's blocks)")
def randomized_unknown_block(tmp):
    from cnncourse.sanity import randomized_copies
    return raises(lambda: randomized_copies(bn_cnn(), ["head"]), (AttributeError, ValueError),
                  "head")


@probe("unclear errors", "deletion_curve with fractions [0, 1.5]",
       "a ValueError naming fractions")
def deletion_fraction(tmp):
    import torch
    from cnncourse.sanity import deletion_curve
    return raises(lambda: deletion_curve(bn_cnn(), images(), 1, torch.rand(2, 1, 28, 28),
                                         [0, 1.5]), ValueError, "fractions")


@probe("unclear errors", "deletion_curve with a heat map of another size (14 x 14)",
       "a ValueError naming heat and the shape it must have")
def deletion_heat_shape(tmp):
    import torch
    from cnncourse.sanity import deletion_curve
    return raises(lambda: deletion_curve(bn_cnn(), images(), 1, torch.rand(2, 1, 14, 14),
                                         [0, 0.5]), ValueError, "heat", "(2, 28, 28)")


# ================================================================================ data faults
def _read_test():
    from cnncourse.data import read_fashion_mnist
    return read_fashion_mnist("test", download=False)


def corrupt(tmp: Path, name: str, edit: Callable[[bytes], bytes]) -> Path:
    folder = data_copy(tmp, copy=(name,))
    path = folder / name
    path.write_bytes(edit(path.read_bytes()))
    return path


def gz_raw(name: str) -> bytes:
    return gzip.decompress((DEBIAN / name).read_bytes())


def flip(at: int) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        i = at % len(data)
        return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
    return edit


DATA_FAULTS = [
    ("t10k-labels .gz deleted", "t10k-labels-idx1-ubyte.gz", None,
     (FileNotFoundError,), ["t10k-labels-idx1-ubyte"]),
    ("t10k-labels .gz empty (0 bytes)", "t10k-labels-idx1-ubyte.gz", lambda d: b"",
     (ValueError,), ["t10k-labels-idx1-ubyte.gz", "Delete"]),
    ("t10k-labels .gz cut in half", "t10k-labels-idx1-ubyte.gz", lambda d: d[:len(d) // 2],
     (ValueError,), ["t10k-labels-idx1-ubyte.gz", "damaged"]),
    ("t10k-images .gz cut to 90%", "t10k-images-idx3-ubyte.gz", lambda d: d[:len(d) * 9 // 10],
     (ValueError,), ["t10k-images-idx3-ubyte.gz"]),
    ("t10k-labels .gz: gzip magic byte flipped", "t10k-labels-idx1-ubyte.gz", flip(0),
     (ValueError,), ["t10k-labels-idx1-ubyte.gz"]),
    ("t10k-labels .gz: flags byte flipped", "t10k-labels-idx1-ubyte.gz", flip(3),
     (ValueError,), ["t10k-labels-idx1-ubyte.gz"]),
    ("t10k-labels .gz: a byte of the deflate stream flipped", "t10k-labels-idx1-ubyte.gz",
     flip(2000), (ValueError,), ["t10k-labels-idx1-ubyte.gz"]),
    ("t10k-labels .gz: CRC byte flipped", "t10k-labels-idx1-ubyte.gz", flip(-8),
     (ValueError,), ["t10k-labels-idx1-ubyte.gz"]),
    ("t10k-labels .gz: length byte flipped", "t10k-labels-idx1-ubyte.gz", flip(-2),
     (ValueError,), ["t10k-labels-idx1-ubyte.gz"]),
    ("t10k-labels .gz: trailing garbage appended", "t10k-labels-idx1-ubyte.gz",
     lambda d: d + b"garbage!", (ValueError,), ["t10k-labels-idx1-ubyte.gz"]),
    ("t10k-labels: IDX magic changed", "t10k-labels-idx1-ubyte.gz",
     lambda d: gzip.compress(b"\x00\x00\x08\x02" + gz_raw("t10k-labels-idx1-ubyte.gz")[4:]),
     (ValueError,), ["magic"]),
    ("t10k-labels: one label is 10", "t10k-labels-idx1-ubyte.gz",
     lambda d: gzip.compress(gz_raw("t10k-labels-idx1-ubyte.gz")[:-1] + b"\x0a"),
     (ValueError,), ["label 10", "0..9"]),
    ("t10k-labels: 100 labels short (header still 10,000)", "t10k-labels-idx1-ubyte.gz",
     lambda d: gzip.compress(gz_raw("t10k-labels-idx1-ubyte.gz")[:-100]),
     (ValueError,), ["truncated"]),
    ("t10k-labels: header says 9,999 (count mismatch with the images)",
     "t10k-labels-idx1-ubyte.gz",
     lambda d: gzip.compress(b"\x00\x00\x08\x01" + (9999).to_bytes(4, "big")
                             + gz_raw("t10k-labels-idx1-ubyte.gz")[8:-1]),
     (ValueError,), ["9999", "belong together"]),
    ("t10k-labels holds the images (files swapped)", "t10k-labels-idx1-ubyte.gz",
     lambda d: (DEBIAN / "t10k-images-idx3-ubyte.gz").read_bytes(), (ValueError,), ["swapped"]),
    ("t10k-labels .gz is an HTML error page", "t10k-labels-idx1-ubyte.gz",
     lambda d: b"<html><body>404 Not Found</body></html>", (ValueError,),
     ["t10k-labels-idx1-ubyte.gz"]),
    ("t10k-labels .gz holds uncompressed bytes", "t10k-labels-idx1-ubyte.gz",
     lambda d: gz_raw("t10k-labels-idx1-ubyte.gz"), (ValueError,), ["t10k-labels-idx1-ubyte.gz"]),
]
for _label, _name, _edit, _types, _words in DATA_FAULTS:
    def _data_fault(tmp, name=_name, edit=_edit, types=_types, words=_words):
        if edit is None:
            folder = data_copy(tmp)
            (folder / name).unlink()
        else:
            corrupt(tmp, name, edit)
        return raises(_read_test, types, *words)
    probe("data faults", f"CNNCOURSE_DATA copy: {_label}",
          f"a {_types[0].__name__} naming the file ({', '.join(_words)})",
          name=f"data_{_label}")(_data_fault)


@probe("data faults", "train-images .gz cut to 99% (the big file)",
       "a DataFileError naming train-images (not a shape error later)")
def data_train_images_cut(tmp):
    from cnncourse.data import read_fashion_mnist
    corrupt(tmp, "train-images-idx3-ubyte.gz", lambda d: d[:len(d) * 99 // 100])
    return raises(lambda: read_fashion_mnist("train", download=False), ValueError,
                  "train-images-idx3-ubyte.gz")


@probe("data faults", "the four files uncompressed (no .gz) in CNNCOURSE_DATA",
       "read as they are (control)")
def data_raw_files(tmp):
    from cnncourse.data import read_fashion_mnist
    folder = tmp / "raw"
    folder.mkdir()
    for name in FILES[2:]:
        (folder / name[:-3]).write_bytes(gz_raw(name))
    for name in FILES[:2]:
        (folder / name).symlink_to(DEBIAN / name)
    os.environ["CNNCOURSE_DATA"] = str(folder)
    X, y = read_fashion_mnist("test", download=False)
    return f"{tuple(X.shape)}, {tuple(y.shape)}", tuple(X.shape) == (10000, 28, 28)


@probe("data faults", "the files in a FashionMNIST/raw sub-folder (torchvision's layout)",
       "found (control)")
def data_subfolder(tmp):
    from cnncourse.data import read_fashion_mnist
    folder = tmp / "tv" / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    for name in FILES:
        (folder / name).symlink_to(DEBIAN / name)
    os.environ["CNNCOURSE_DATA"] = str(tmp / "tv")
    X, _ = read_fashion_mnist("test", download=False)
    return f"{tuple(X.shape)}", len(X) == 10000


@probe("data faults", "a symlink in CNNCOURSE_DATA pointing at a deleted file",
       "treated as missing: the error names the file")
def data_dangling_link(tmp):
    folder = data_copy(tmp)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    (folder / "t10k-images-idx3-ubyte.gz").symlink_to(tmp / "gone.gz")
    return raises(_read_test, FileNotFoundError, "t10k-images-idx3-ubyte")


# --- a local mirror
MIRROR_FILES = ("t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz")
BIG = "t10k-images-idx3-ubyte.gz"  # 4.4 MB: half of it is more than one 64 KiB read


class Mirror:
    """A local HTTP server: /good/, /trunc/ (half, then closed), /html/ (an error page with
    200), /gone/ (404), /stall/ (accepts and sends nothing), /slow/ (half, then waits)."""

    def __init__(self):
        import http.server

        served = {n: (DEBIAN / n).read_bytes() for n in (*MIRROR_FILES, BIG)}
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 -- http.server's name
                outer.requests.append(self.path)
                kind, _, name = self.path.strip("/").partition("/")
                body = served.get(name)
                if kind == "gone" or body is None:
                    self.send_error(404)
                    return
                if kind == "stall":
                    time.sleep(60)
                    return
                if kind == "html":
                    page = b"<html><body>Please log in</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if kind in ("trunc", "slow"):
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    if kind == "slow":
                        time.sleep(60)
                    return  # the connection closes short
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __call__(self, kind: str) -> str:
        return f"{self.url}/{kind}/"


def md5s() -> dict[str, str]:
    import hashlib
    return {n: hashlib.md5((DEBIAN / n).read_bytes()).hexdigest() for n in MIRROR_FILES}


def download(tmp: Path, kinds: list[str], mirror: Mirror | None = None):
    from cnncourse.data import download_fashion_mnist
    mirror = mirror or Mirror()
    target = tmp / "dl"
    err = io.StringIO()
    started = time.perf_counter()
    try:
        with contextlib.redirect_stderr(err):
            download_fashion_mnist(target, [mirror(k) for k in kinds], md5s(), progress=True)
        error = None
    except Exception as e:  # noqa: BLE001 -- the observation
        error = e
    return error, time.perf_counter() - started, err.getvalue(), target, mirror


def _files_ok(target: Path) -> tuple[bool, list[str]]:
    names = sorted(p.name for p in target.iterdir()) if target.exists() else []
    good = all((target / n).is_file() and (target / n).read_bytes() == (DEBIAN / n).read_bytes()
               for n in MIRROR_FILES)
    return good, names


@probe("data faults", "download from a good mirror",
       "both files, byte for byte, nothing else in the folder (control)")
def mirror_good(tmp):
    error, secs, _, target, _ = download(tmp, ["good"])
    good, names = _files_ok(target)
    return f"error {error!r}; files {names}", error is None and good and len(names) == 2


@probe("data faults", "a mirror that truncates, then a good one",
       "the good one's files; no half file left; the first mirror's failure not fatal")
def mirror_trunc_then_good(tmp):
    error, _, said, target, _ = download(tmp, ["trunc", "good"])
    good, names = _files_ok(target)
    return f"error {error!r}; files {names}", error is None and good and len(names) == 2


@probe("data faults", "a mirror serving an HTML page (200), then a good one",
       "MD5 mismatch caught, the page deleted, the good one's files kept")
def mirror_html_then_good(tmp):
    error, _, _, target, _ = download(tmp, ["html", "good"])
    good, names = _files_ok(target)
    return f"error {error!r}; files {names}", error is None and good and len(names) == 2


@probe("data faults", "a mirror answering 404, then a good one",
       "the good one's files")
def mirror_404_then_good(tmp):
    error, _, _, target, _ = download(tmp, ["gone", "good"])
    good, names = _files_ok(target)
    return f"error {error!r}; files {names}", error is None and good


@probe("data faults", "only a truncating and an HTML mirror",
       "DataNotFoundError naming both mirrors and the file; no file left in the folder")
def mirror_all_bad(tmp):
    error, _, _, target, mirror = download(tmp, ["trunc", "html"])
    text = str(error)
    _, names = _files_ok(target)
    ok = (type(error).__name__ == "DataNotFoundError" and mirror("trunc") in text
          and mirror("html") in text and "t10k-labels-idx1-ubyte.gz" in text and not names)
    return f"{type(error).__name__}: {_short(text, 200)}; folder {names}", ok


@probe("data faults", "a stalled mirror first, then a good one (issue 27 item 6)",
       "names the mirror before waiting; gives up on it after ~15 s (not 4 x 60 s); asks it "
       "last for the second file; finishes", timeout=150)
def mirror_stall(tmp):
    from cnncourse.data import STALL_SECONDS
    error, secs, said, target, mirror = download(tmp, ["stall", "good"])
    good, _ = _files_ok(target)
    stalls = sum(1 for r in mirror.requests if r.startswith("/stall/"))
    named = f"from {mirror('stall')}" in said and "sent nothing" in said
    ok = error is None and good and named and secs < 2 * STALL_SECONDS + 10 and stalls == 1
    return (f"error {error!r}; {secs:.0f} s; stalled mirror asked {stalls}x; named: {named}; "
            f"said {_short(said, 150)!r}"), ok


@probe("data faults", "a second download into a folder that already has the files",
       "no request at all (the MD5 of the files there matches)")
def mirror_second_call_free(tmp):
    mirror = Mirror()
    download(tmp, ["good"], mirror)
    first = len(mirror.requests)
    error, _, _, _, _ = download(tmp, ["good"], mirror)
    return f"requests: first {first}, second {len(mirror.requests) - first}", (
        error is None and len(mirror.requests) == first)


@probe("data faults", "a download folder with a .part file abandoned over an hour ago",
       "the stale .part is removed by the next download")
def mirror_stale_part(tmp):
    target = tmp / "dl"
    target.mkdir()
    stale = target / ".t10k-labels-idx1-ubyte.gz.999-abcd.part"
    stale.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    error, _, _, _, _ = download(tmp, ["good"])
    return f"error {error!r}; stale left: {stale.exists()}", error is None and not stale.exists()


KILLED_DOWNLOAD = """
import sys
from cnncourse.data import download_fashion_mnist
download_fashion_mnist(sys.argv[1], [sys.argv[2]], {sys.argv[3]: sys.argv[4]}, progress=False)
"""


@probe("data faults", "a download process SIGKILLed mid-file",
       "no file under the real name (only a hidden .part)", timeout=120)
def mirror_killed(tmp):
    import hashlib
    mirror = Mirror()
    name = BIG
    target = tmp / "dl"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_DOWNLOAD, str(target), mirror("slow"),
                             name, hashlib.md5((DEBIAN / name).read_bytes()).hexdigest()],
                            env=child_env(tmp))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = list(target.glob(".*.part")) if target.exists() else []
        if parts and parts[0].stat().st_size > 0:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    names = sorted(p.name for p in target.iterdir()) if target.exists() else []
    return f"folder after kill: {names}", bool(names) and name not in names and all(
        n.endswith(".part") for n in names)


@probe("data faults", "load_data_fashion_mnist(download=True) into an empty CNNCOURSE_DATA "
       "folder whose mirror serves a truncated file",
       "DataNotFoundError naming the folder and the failed download; no data faked")
def mirror_via_loader(tmp):
    import cnncourse.data as data
    (tmp / "empty").mkdir()
    os.environ["CNNCOURSE_DATA"] = str(tmp / "empty")
    mirror = Mirror()
    data._download = lambda target: data.download_fashion_mnist(
        target, [mirror("trunc")], md5s(), progress=False)
    return raises(lambda: data.load_data_fashion_mnist(64), FileNotFoundError,
                  "CNNCOURSE_DATA", "download", "tried and failed")


# ========================================================================= Chinese catalogue
PO_PAGE = "chapters/lenet"


def catalogue_copy(tmp: Path):
    """The i18n module with CATALOGUES pointing at a copy of every .po in ``tmp``."""
    i18n = load_module("i18n")
    copy = tmp / "LC_MESSAGES"
    shutil.copytree(i18n.CATALOGUES, copy)
    i18n.CATALOGUES = copy
    return i18n, copy / f"{PO_PAGE}.po"


def po_edit(po: Path, pick: Callable, change: Callable) -> tuple[Path, str]:
    """Change the first message ``pick(message)`` accepts with ``change(catalog, message)``,
    in ``po`` or else in the first other catalogue beside it that has one; returns the
    catalogue and the message's id."""
    from babel.messages.pofile import read_po, write_po
    base = po.parents[1]
    for path in [po, *sorted(p for p in base.rglob("*.po") if p != po)]:
        with path.open("rb") as f:
            cat = read_po(f)
        message = next((m for m in cat if m.id and m.string and pick(m)), None)
        if message is None:
            continue
        change(cat, message)
        with path.open("wb") as f:
            write_po(f, cat, width=100)
        return path, message.id
    raise LookupError("no catalogue has a message this corruption fits")


def _setattr(**kw):
    def change(cat, m):
        for k, v in kw.items():
            setattr(m, k, v(m) if callable(v) else v)
    return change


PO_CORRUPTIONS = [
    ("an unbalanced ** (one of a pair dropped)", lambda m: m.string.count("**") >= 2,
     _setattr(string=lambda m: m.string.replace("**", "", 1)), "markup unbalanced"),
    ("a stray $ at the end (泛化。$)", lambda m: "$" not in m.id and "`" not in m.id,
     _setattr(string=lambda m: m.string + "$"), "markup unbalanced"),
    ("msgstr identical to the English", lambda m: len(m.id.split()) > 5 and "`" not in m.id,
     _setattr(string=lambda m: m.id), "the translation is the English"),
    ("the entry deleted", lambda m: len(m.id.split()) > 5,
     lambda cat, m: cat.delete(m.id), "no entry"),
    ("msgstr emptied", lambda m: len(m.id.split()) > 5, _setattr(string=""), "not translated"),
    ("marked fuzzy", lambda m: len(m.id.split()) > 5,
     lambda cat, m: m.flags.add("fuzzy"), "fuzzy"),
    ("inline code changed in the msgstr", lambda m: "`" in m.id and "{" not in m.id,
     _setattr(string=lambda m: m.string.replace("`", "`x", 1)), "code, maths or roles changed"),
    ("a {cite} role lost (its key left as code)", lambda m: "{cite}`" in m.string,
     _setattr(string=lambda m: m.string.replace("{cite}`", "`", 1)), "changed"),
    ("a {cite} role's key changed", lambda m: "{cite}`" in m.string,
     _setattr(string=lambda m: m.string.replace("{cite}`", "{cite}`x", 1)), "changed"),
    ("a single * (emphasis) dropped", lambda m: m.string.count("*") == 2 and "**" not in m.string,
     _setattr(string=lambda m: m.string.replace("*", "", 1)), "markup unbalanced"),
    ("inline maths changed ($...$ with one character more)",
     lambda m: re.search(r"\$[^$]+\$", m.string) is not None,
     _setattr(string=lambda m: re.sub(r"\$([^$]+)\$", r"$\1 $", m.string, count=1)),
     "code, maths or roles changed"),
    ("a zero-width space inserted", lambda m: len(m.string) > 10,
     _setattr(string=lambda m: m.string[:4] + "\u200b" + m.string[4:]), "invisible"),
    ("'池化' replaced by d2l-zh's '汇聚'", lambda m: "池化" in m.string,
     _setattr(string=lambda m: m.string.replace("池化", "汇聚")), "glossary"),
    ("'快 1.6 倍' (ambiguous times)", lambda m: len(m.string) > 10 and "`" not in m.id,
     _setattr(string=lambda m: m.string + "快 1.6 倍。"), "ambiguous"),
    ("a message the page no longer has added", lambda m: True,
     lambda cat, m: cat.add("A sentence no page has any more, added by the probe.",
                            "探针加入的句子。"), "not on the page"),
]
for _label, _pick, _change, _word in PO_CORRUPTIONS:
    def _po_bad(tmp, pick=_pick, change=_change, word=_word):
        i18n, po = catalogue_copy(tmp)
        try:
            po, msgid = po_edit(po, pick, change)
        except LookupError as err:
            return str(err), False
        problems = i18n.check([str(po)])
        hit = [p for p in problems if word.lower() in p.lower()]
        return (f"{len(problems)} problem(s): {_short(hit[0] if hit else problems[:1], 160)} "
                f"[edited {po.name}: {msgid[:40]!r}]"), bool(hit)
    probe("Chinese catalogue", f"a catalogue copy ({PO_PAGE}.po first): {_label} (issue 27 "
          "item 8)",
          f"i18n check fails with '{_word}'", timeout=180,
          name=f"po_{_label}")(_po_bad)


@probe("Chinese catalogue", f"{PO_PAGE}.po copy, read and rewritten unchanged (control)",
       "i18n check passes: the probes' failures are the corruptions', not the copy's",
       timeout=180)
def po_control(tmp):
    i18n, po = catalogue_copy(tmp)
    po_edit(po, lambda m: True, lambda cat, m: None)
    problems = i18n.check([str(po)])
    return f"{len(problems)} problem(s) {_short(problems[:2], 150)}", not problems


@probe("Chinese catalogue", "a msgstr equal to its English, with '# same in Chinese: why'",
       "i18n check passes (an intentional identity is allowed)", timeout=180)
def po_identical_marked(tmp):
    i18n, po = catalogue_copy(tmp)

    def change(cat, m):
        m.string = m.id
        m.user_comments = [*m.user_comments, f"{i18n.IDENTICAL_MARK}: a probe"]
    po_edit(po, lambda m: len(m.id.split()) > 5 and "`" not in m.id and all(
        t not in m.id.lower() for t in ("pool", "stride", "padding", "channel", "epoch")), change)
    problems = i18n.check([str(po)])
    return f"{len(problems)} problem(s) {_short(problems[:2], 150)}", not problems


@probe("Chinese catalogue", "i18n build with one corrupted catalogue (an unbalanced **)",
       "refuses (rc 1) before Sphinx runs, naming the problem", timeout=240)
def po_build_checks(tmp):
    i18n, po = catalogue_copy(tmp)
    po_edit(po, lambda m: m.string.count("**") >= 2,
            _setattr(string=lambda m: m.string.replace("**", "", 1)))
    ran = []
    i18n.sphinx_build = lambda *a, **k: ran.append(a) or 0
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = i18n.build(tmp / "out", execute=False)
    said = "markup unbalanced" in err.getvalue()
    return f"rc {rc}; sphinx ran: {bool(ran)}; names the problem: {said}", (
        rc == 1 and not ran and said)


@probe("Chinese catalogue", "the English book build's call of the Chinese build",
       "does not pass --no-check (the book build always runs the check)")
def po_book_build_no_skip(tmp):
    source = module_path("build_book").read_text()
    zh = [line for line in source.splitlines() if "i18n" in line and "build" in line]
    skip = "--no-check" in source.split("def main", 1)[1]
    return f"Chinese step: {_short(' / '.join(zh), 150)}; --no-check in main: {skip}", (
        bool(zh) and not skip)


# =============================================================================== build cache
def build_copy(tmp: Path):
    """The build_book module with ROOT at a copy of what the pages read (cnncourse/,
    benchmarks/results/) and CNNCOURSE_DATA at a copy of the data (t10k-labels a real file)."""
    bb = load_module("build_book")
    root = tmp / "root"
    shutil.copytree(ROOT / "cnncourse", root / "cnncourse",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "benchmarks" / "results", root / "benchmarks" / "results")
    (root / "chapters").mkdir()  # where the kernels run, as in the checkout
    bb.ROOT = root
    data_copy(tmp, copy=("t10k-labels-idx1-ubyte.gz",))
    return bb, root


def key_change(tmp: Path, mutate: Callable, word: str, expect: bool = True):
    bb, root = build_copy(tmp)
    old = json.loads(json.dumps(bb.build_inputs("smoke")))  # as the stamp file holds it
    mutate(bb, root)
    new = bb.build_inputs("smoke")
    said = bb.changes(old, new)
    hit = [s for s in said if word.lower() in s.lower()]
    if expect:
        return f"changes: {_short('; '.join(said) or 'none', 180)}", bool(hit)
    return f"changes: {_short('; '.join(said) or 'none', 180)}", not said


def _first_json(root: Path) -> Path:
    return sorted((root / "benchmarks" / "results").glob("*.json"))[0]


@probe("build cache", "a benchmarks/results/*.json edited (the LeNet page reads it; issue 25 "
       "item 5)", "the cache key changes, naming that file")
def cache_bench_json(tmp):
    def mutate(bb, root):
        p = _first_json(root)
        p.write_text(p.read_text().replace("1", "2", 1))
    return key_change(tmp, mutate, "benchmarks/results/")


@probe("build cache", "a new benchmarks/results/*.json added", "the key changes ('new')")
def cache_bench_new(tmp):
    return key_change(tmp, lambda bb, root: (root / "benchmarks" / "results" / "x.json")
                      .write_text("{}"), "x.json new")


@probe("build cache", "a cnncourse/*.py edited", "the key changes, naming the file")
def cache_package_py(tmp):
    return key_change(tmp, lambda bb, root: (root / "cnncourse" / "timing.py").open("a").write(
        "\n# edited\n"), "cnncourse/timing.py")


@probe("build cache", "a data file inside cnncourse/ (cnncourse/results/) edited",
       "the key changes")
def cache_package_data(tmp):
    def mutate(bb, root):
        files = sorted(p for p in (root / "cnncourse" / "results").rglob("*") if p.is_file())
        files[0].write_bytes(files[0].read_bytes() + b"\n")
    return key_change(tmp, mutate, "cnncourse/results/")


@probe("build cache", "the Python version differs (3.13.0 instead)",
       "the key changes, naming python")
def cache_python(tmp):
    def mutate(bb, root):
        bb.platform.python_version = lambda: "3.13.0"
    return key_change(tmp, mutate, "python")  # replaced in this probe's process only


for _pkg in ("pillow", "torch", "torchvision", "numpy", "matplotlib"):
    def _cache_version(tmp, pkg=_pkg):
        def mutate(bb, root):
            real = bb._version
            bb._version = lambda name: "0.0.probe" if name == pkg else real(name)
        return key_change(tmp, mutate, pkg)
    probe("build cache", f"another {_pkg} version installed",
          f"the key changes, naming {_pkg}",
          name=f"cache_version_{_pkg}")(_cache_version)


@probe("build cache", "a data file rewritten (one byte) with its size and mtime kept",
       "the key changes ('the Fashion-MNIST files changed')")
def cache_data_mtime_kept(tmp):
    def mutate(bb, root):
        p = Path(os.environ["CNNCOURSE_DATA"]) / "t10k-labels-idx1-ubyte.gz"
        st = p.stat()
        p.write_bytes(flip(100)(p.read_bytes()))
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    return key_change(tmp, mutate, "Fashion-MNIST")


@probe("build cache", "a data file touched (new mtime, same bytes)",
       "no change: the key is the content, so no needless re-execution")
def cache_data_touch(tmp):
    def mutate(bb, root):
        os.utime(Path(os.environ["CNNCOURSE_DATA"]) / "t10k-labels-idx1-ubyte.gz")
    return key_change(tmp, mutate, "", expect=False)


@probe("build cache", "nothing changed between two builds (control)",
       "no change reported")
def cache_nothing(tmp):
    return key_change(tmp, lambda bb, root: None, "", expect=False)


@probe("build cache", "a __pycache__/*.pyc file written under cnncourse/",
       "no change (bytecode is not an input)")
def cache_pyc(tmp):
    def mutate(bb, root):
        (root / "cnncourse" / "__pycache__").mkdir(exist_ok=True)
        (root / "cnncourse" / "__pycache__" / "x.cpython-313.pyc").write_bytes(b"\0")
    return key_change(tmp, mutate, "", expect=False)


@probe("build cache", "the budget changes (smoke -> cpu)", "the key changes, naming budget")
def cache_budget(tmp):
    bb, _ = build_copy(tmp)
    said = bb.changes(bb.build_inputs("smoke"), bb.build_inputs("cpu"))
    return f"changes: {said}", any("budget" in s for s in said)


@probe("build cache", "the Fashion-MNIST copy moves (CNNCOURSE_DATA to another folder with "
       "the same files)", "the key changes: the kernels read another copy")
def cache_data_moved(tmp):
    def mutate(bb, root):
        other = tmp / "fm2"
        shutil.copytree(Path(os.environ["CNNCOURSE_DATA"]), other, symlinks=True)
        os.environ["CNNCOURSE_DATA"] = str(other)
    return key_change(tmp, mutate, "Fashion-MNIST")


@probe("build cache", "the kernels would import cnncourse from another checkout (PYTHONPATH)",
       "the key notices; the build refuses (rc 2) before running jupyter-book", timeout=180)
def cache_other_checkout(tmp):
    bb, root = build_copy(tmp)
    old = json.loads(json.dumps(bb.build_inputs("smoke")))
    other = tmp / "other"
    (other / "cnncourse").mkdir(parents=True)
    (other / "cnncourse" / "__init__.py").write_text("")
    os.environ["PYTHONPATH"] = str(other)
    said = bb.changes(old, bb.build_inputs("smoke"))
    ran = []
    bb.subprocess.call = lambda *a, **k: ran.append(a) or 0
    bb.ROOT = ROOT  # main() compares with the checkout it builds
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = bb.main(["--budget", "smoke", "--out", str(tmp / "bookout")])
    noticed = any("kernels' cnncourse" in s for s in said)
    return (f"changes: {_short('; '.join(said), 120)}; main rc {rc}; jupyter-book ran: "
            f"{bool(ran)}"), noticed and rc == 2 and not ran


@probe("build cache", "a new claims survey file (book/results/claims-*.json) on a copy",
       "the claims page's code (its stamp line) changes, so its cache entry does")
def cache_claims_stamp(tmp):
    script = load_module("claims")
    page, results = tmp / "claims.md", tmp / "results"
    results.mkdir()
    page.write_text(f"```\n{script.STAMP}none yet\n```\n")
    (results / "claims-smoke.json").write_text('{"a": 1}\n')
    first = script.stamp_page(page, results)
    (results / "claims-smoke.json").write_text('{"a": 2}\n')
    second = script.stamp_page(page, results)
    return f"{first!r} -> {second!r}", first != second and second in page.read_text()


# ================================================================================= the runner
def _child(p: Probe, tmp: Path, conn) -> None:
    os.chdir(tmp)
    log = open(tmp / "probe.log", "w")  # noqa: SIM115 -- the child's output, kept out of the table
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        import torch
        torch.set_num_threads(1)
        observed, ok = p.run(tmp)
        conn.send((str(observed), bool(ok)))
    except BaseException as err:  # noqa: BLE001 -- a crashing probe is a finding too
        conn.send((f"probe crashed: {type(err).__name__}: {_short(_message(err), 200)} "
                   f"@ {_short(traceback.format_exc().splitlines()[-3], 80)}", False))


def run_probe(p: Probe, workdir: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"{p.name[:40]}-", dir=workdir))
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    started = time.perf_counter()
    proc = ctx.Process(target=_child, args=(p, tmp, child))
    proc.start()
    child.close()
    observed, ok = f"timed out after {p.timeout:g} s", False
    if parent.poll(p.timeout):
        try:
            observed, ok = parent.recv()
        except EOFError:
            observed = "the probe's process died without an answer"
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"name": p.name, "category": p.category, "tried": p.tried, "expected": p.expected,
            "observed": observed, "ok": ok, "seconds": round(time.perf_counter() - started, 1)}


def table(rows: list[dict]) -> str:
    lines = [f"{'category':<18} | {'tried':>5} | {'as expected':>11} | {'defects':>7}",
             "-" * 52]
    for cat in CATEGORIES:
        mine = [r for r in rows if r["category"] == cat]
        if mine:
            good = sum(r["ok"] for r in mine)
            lines.append(f"{cat:<18} | {len(mine):>5} | {good:>11} | {len(mine) - good:>7}")
    good = sum(r["ok"] for r in rows)
    lines += ["-" * 52, f"{'all':<18} | {len(rows):>5} | {good:>11} | {len(rows) - good:>7}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write every probe's row as JSON here")
    parser.add_argument("--only", nargs="+", default=None,
                        help="probes whose name or category contains one of these words")
    parser.add_argument("--list", action="store_true", help="list the probes and stop")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every probe's row")
    args = parser.parse_args(argv)

    chosen = [p for p in PROBES if not args.only or any(
        w.lower() in (p.name + " " + p.category).lower() for w in args.only)]
    names = [p.name for p in PROBES]
    assert len(set(names)) == len(names), "two probes share a name"
    if args.list:
        for p in chosen:
            print(f"{p.category:<18} {p.name:<45} {p.tried}")
        return 0
    # what the forked probes share, made once here
    import torch
    torch.set_num_threads(1)
    import cnncourse  # noqa: F401
    import cnncourse.attribution  # noqa: F401
    tiny_tensors()
    if any(p.category == "Chinese catalogue" for p in chosen):
        i18n = load_module("i18n")
        if hasattr(i18n, "templates"):  # (an older i18n.py, without the entry check, has none)
            i18n.templates()  # the pages' messages, extracted once (Sphinx)
    rows = []
    with tempfile.TemporaryDirectory(prefix="probe-errors-") as work:
        for i, p in enumerate(chosen, 1):
            row = run_probe(p, Path(work))
            rows.append(row)
            if args.verbose or not row["ok"]:
                mark = "ok  " if row["ok"] else "DEFECT"
                print(f"[{i}/{len(chosen)}] {mark} {p.category}: {p.tried}\n"
                      f"      expected: {p.expected}\n      observed: {row['observed']}",
                      flush=True)
    print()
    print(table(rows))
    if args.out:
        summary = {cat: {"tried": sum(r["category"] == cat for r in rows),
                         "as expected": sum(r["ok"] for r in rows if r["category"] == cat)}
                   for cat in CATEGORIES}
        Path(args.out).write_text(json.dumps({"summary": summary, "probes": rows}, indent=1,
                                             ensure_ascii=False) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
