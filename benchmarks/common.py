"""Shared machinery of the speed benchmarks: d2l's pipeline against cnncourse's.

Each comparison script (``bench_lenet.py``, ``bench_alexnet.py``) describes a
``Case`` (model, batch size, learning rate, epochs, resize) and hands it to
``main``. ``run_benchmark`` then, in one process and on one device:

1. warms both pipelines up (one short run each, not recorded);
2. runs them alternately, ``repeats`` times each, seeding the same way for
   both in a repeat (same initial weights: both init with Xavier-uniform in the
   same module order). The seed also changes each pipeline's order of training
   examples, but the two shuffle with different code, so their orders differ:
   ``bench_swap.py`` measures what that does to the final test accuracy;
3. times the *whole* ``train_ch6`` call of each -- data loading, training and
   the per-epoch test pass, as a learner waits for it -- and divides the number
   of training examples seen (epochs x examples) by it;
4. records the final test accuracy and the peak memory of each run;
5. writes everything to ``cnncourse/results/<case>-<device>.json``.

What "d2l's pipeline" means here, precisely:

* ``d2l.load_data_fashion_mnist`` (torchvision ``FashionMNIST`` with
  ``ToTensor``, ``DataLoader`` with d2l's 4 workers), unchanged. It reads from
  ``../data``, so it is called from a folder whose ``../data`` holds the real
  Fashion-MNIST files, uncompressed where torchvision looks for them (there is
  no download: no network is assumed).
* ``d2l.train_ch6``, unchanged, except for one monkeypatch: d2l's ``Animator``
  calls ``IPython.display.display(fig)`` after every point it adds, which in a
  script prints ``Figure(350x250)`` lines and in a notebook renders an SVG.
  The benchmark replaces d2l's ``display`` with a no-op, so d2l still builds
  its plot (``cla``/``plot`` calls) but never renders it; d2l's measured
  speed is therefore, if anything, a little better than in a notebook.
  d2l's printed lines are captured (its own "examples/sec" is kept in the
  results: it counts only the time inside the batch loop, not data loading or
  evaluation).

"cnncourse's pipeline" is ``cnncourse.load_data_fashion_mnist`` +
``cnncourse.train_ch6(..., animate=False, verbose=False)`` with its defaults
for the device (on CUDA: bf16 autocast, channels-last and, since after commit
b4e5b84, the training step replayed from a CUDA graph).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over the run; on the
CPU a sampling thread records the process's resident set size (RSS) above its
value when the run started, plus the unique memory (USS) of any data-loader
worker processes (d2l's four workers are part of d2l's cost).
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import platform
import re
import shutil
import statistics
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable, Iterable

import torch
from torch import nn

import cnncourse
from bookfactory.provenance import git_commit

ROOT = Path(__file__).resolve().parents[1]

__all__ = [
    "Case", "RunResult", "PeakMemory", "bench_cache_dir", "environment", "import_d2l",
    "main", "make_d2l_loaders", "make_cnn_loaders", "prepare_torchvision_root",
    "run_benchmark", "run_cnncourse", "run_d2l", "summarize",
]

RESULTS_DIR = ROOT / "cnncourse" / "results"  # the one folder of recorded results
D2L_INSTALL = ("pip install -r requirements-bench.txt && pip install --no-deps d2l==1.0.3 "
               "(or: bash benchmarks/install.sh)")

LoaderFactory = Callable[[int, "int | None"], "tuple[Iterable, Iterable]"]


@dataclass
class Case:
    """One comparison: the model and the hyper-parameters both pipelines get."""

    name: str                      # file stem of the results: <name>-<device>.json
    title: str                     # shown on the appendix page
    model: Callable[[], nn.Module]
    model_name: str
    batch_size: int
    lr: float
    epochs: int
    resize: int | None = None
    # what the speed page checks a result against, per device type:
    # a list of (key, comparison, value, words)
    targets: dict = field(default_factory=dict)
    # extra keyword arguments for cnncourse's train_ch6 only (e.g. {"cuda_graph": True})
    cnn_options: dict = field(default_factory=dict)


@dataclass
class RunResult:
    """One timed ``train_ch6`` call of one pipeline."""

    pipeline: str                  # "d2l" or "cnncourse"
    repeat: int                    # -1 for the warm-up
    epochs: int
    num_train_examples: int
    load_seconds: float            # building the loaders (not part of the rate)
    train_seconds: float           # the whole train_ch6 call
    examples_per_sec: float        # epochs * examples / train_seconds
    test_acc: float
    train_loss: float | None
    train_acc: float | None
    peak_memory_bytes: int | None
    memory_kind: str               # "cuda_max_allocated" or "rss_delta+workers_uss"
    epoch_seconds: list[float] | None = None    # cnncourse only (d2l does not return them)
    test_acc_per_epoch: list[float] | None = None
    self_reported_examples_per_sec: float | None = None  # what the pipeline prints
    loadavg_before: float | None = None


# ----------------------------------------------------------------- environment
def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version
        return version(module)
    except Exception:
        return None


def environment(device: torch.device) -> dict:
    """Hardware, software versions and date: what a reader needs to compare numbers."""
    env = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "d2l": _version("d2l"),
        "cnncourse": cnncourse.__version__,
        "commit": git_commit(ROOT, mark_changes=True),
        "device": str(device),
        "gpu": None,
        "cuda": None,
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
        env["gpu_memory_bytes"] = torch.cuda.get_device_properties(device).total_memory
    return env


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


# ----------------------------------------------------------------- memory
class PeakMemory:
    """Peak memory of one run (context manager); ``.peak`` in bytes after exit.

    CUDA: ``max_memory_allocated`` (tensors PyTorch allocated on the GPU).
    CPU: a thread samples every ``interval`` s the process RSS minus its value
    at entry, plus the USS (unique set size) of child processes -- the data
    loader's workers. Sampling can miss a short spike; it is a fair estimate,
    not an exact count. Without ``psutil`` the CPU figure is left out (None).
    """

    def __init__(self, device: torch.device, interval: float = 0.1) -> None:
        self.device, self.interval = device, interval
        self.peak: int | None = None
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "rss_delta+workers_uss"
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        try:
            import psutil
        except ImportError:
            return self
        proc = psutil.Process()
        base = proc.memory_info().rss
        self.peak = 0

        def sample() -> None:
            tick = 0
            children_uss = 0
            while not self._stop.is_set():
                try:
                    rss = proc.memory_info().rss - base
                    if tick % 5 == 0:  # USS reads /proc/PID/smaps: slower, so less often
                        children_uss = 0
                        for child in proc.children(recursive=True):
                            with contextlib.suppress(psutil.Error):
                                children_uss += child.memory_full_info().uss
                    self.peak = max(self.peak or 0, rss + children_uss)
                except psutil.Error:
                    pass
                tick += 1
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()


# ----------------------------------------------------------------- d2l
def import_d2l():
    """``d2l.torch`` with its ``display`` silenced (see the module docstring)."""
    from d2l import torch as d2l  # ImportError is the caller's to report

    class _NoDisplay:
        @staticmethod
        def display(*args, **kwargs) -> None:
            pass

        @staticmethod
        def clear_output(*args, **kwargs) -> None:
            pass

    d2l.display = _NoDisplay
    return d2l


def bench_cache_dir() -> Path:
    """Where the benchmark keeps its copy of the data for torchvision."""
    return Path(os.environ.get("CNNCOURSE_BENCH_CACHE",
                               Path.home() / ".cache" / "cnncourse-bench")).expanduser()


def prepare_torchvision_root(cache: Path | None = None, data_root: Path | None = None) -> Path:
    """Make ``<cache>/data/FashionMNIST/raw/<file>`` (uncompressed) and return ``<cache>/work``.

    d2l reads ``../data`` relative to the working directory and torchvision
    wants the four IDX files uncompressed under ``FashionMNIST/raw``; the
    files come from wherever ``cnncourse`` finds the real data set (``data_root``
    is searched first).
    """
    cache = Path(cache) if cache is not None else bench_cache_dir()
    raw = cache / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    work = cache / "work"
    work.mkdir(parents=True, exist_ok=True)
    for images, labels in cnncourse.find_fashion_mnist(data_root, download=False).values():
        for src in (images, labels):
            dst = raw / src.name.removesuffix(".gz")
            if dst.exists() and dst.stat().st_size > 0:
                continue
            tmp = dst.with_suffix(".part")
            with (gzip.open(src, "rb") if src.suffix == ".gz" else open(src, "rb")) as fin, \
                    open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            tmp.replace(dst)
    return work


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def make_d2l_loaders(batch_size: int, resize: int | None):
    """d2l's own loaders on the real data (no download)."""
    d2l = import_d2l()
    with _cwd(prepare_torchvision_root()):
        return d2l.load_data_fashion_mnist(batch_size, resize=resize)


def make_cnn_loaders(batch_size: int, resize: int | None, seed: int = 0):
    """cnncourse's loaders on the real data; ``seed`` draws the order of the training examples.

    cnncourse's loader shuffles from a generator of its own, so ``torch.manual_seed`` does not
    change its order; d2l's ``DataLoader`` draws its order from torch's global generator, so
    there it does. The benchmark passes its run seed here so that both pipelines' orders
    change with it.
    """
    return cnncourse.load_data_fashion_mnist(batch_size, resize=resize, download=False,
                                             seed=seed)


def _num_examples(loader) -> int:
    n = getattr(loader, "num_examples", None)
    if n is None:
        n = len(loader.dataset)
    return int(n)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_D2L_LAST = re.compile(r"loss ([\d.naninf]+), train acc ([\d.]+), test acc ([\d.]+)")
_D2L_RATE = re.compile(r"([\d.]+) examples/sec")


def run_d2l(case: Case, device: torch.device, epochs: int, repeat: int, seed: int,
            loaders: LoaderFactory | None = None) -> RunResult:
    """One timed run of d2l's ``train_ch6`` on d2l's loaders."""
    d2l = import_d2l()
    import matplotlib.pyplot as plt

    t = time.perf_counter()
    train_iter, test_iter = (loaders or make_d2l_loaders)(case.batch_size, case.resize)
    load_seconds = time.perf_counter() - t
    torch.manual_seed(seed)
    net = case.model()
    accs: list[float] = []
    original_eval = d2l.evaluate_accuracy_gpu

    def recording_eval(*args, **kwargs):  # keeps d2l's exact test accuracy
        acc = original_eval(*args, **kwargs)
        accs.append(float(acc))
        return acc

    d2l.evaluate_accuracy_gpu = recording_eval
    out = io.StringIO()
    load = _loadavg()
    try:
        with PeakMemory(device) as mem, contextlib.redirect_stdout(out):
            _sync(device)
            t = time.perf_counter()
            with warnings.catch_warnings():  # d2l's xlim=[1, 1] warns for a 1-epoch run
                warnings.simplefilter("ignore", UserWarning)
                d2l.train_ch6(net, train_iter, test_iter, epochs, case.lr, device)
            _sync(device)
            seconds = time.perf_counter() - t
    finally:
        d2l.evaluate_accuracy_gpu = original_eval
        plt.close("all")
    printed = out.getvalue()
    last, rate = _D2L_LAST.search(printed), _D2L_RATE.search(printed)
    n = _num_examples(train_iter)
    return RunResult(
        pipeline="d2l", repeat=repeat, epochs=epochs, num_train_examples=n,
        load_seconds=load_seconds, train_seconds=seconds,
        examples_per_sec=epochs * n / seconds, test_acc=accs[-1], test_acc_per_epoch=accs,
        train_loss=float(last.group(1)) if last else None,
        train_acc=float(last.group(2)) if last else None,
        peak_memory_bytes=mem.peak, memory_kind=mem.kind,
        self_reported_examples_per_sec=float(rate.group(1)) if rate else None,
        loadavg_before=load)


def run_cnncourse(case: Case, device: torch.device, epochs: int, repeat: int, seed: int,
                  loaders: LoaderFactory | None = None) -> RunResult:
    """One timed run of cnncourse's ``train_ch6`` on cnncourse's loaders."""
    t = time.perf_counter()
    train_iter, test_iter = (loaders(case.batch_size, case.resize) if loaders else
                             make_cnn_loaders(case.batch_size, case.resize, seed=seed))
    load_seconds = time.perf_counter() - t
    torch.manual_seed(seed)
    net = case.model()
    load = _loadavg()
    with PeakMemory(device) as mem:
        _sync(device)
        t = time.perf_counter()
        hist = cnncourse.train_ch6(net, train_iter, test_iter, epochs, case.lr, device,
                                   animate=False, verbose=False, **case.cnn_options)
        _sync(device)
        seconds = time.perf_counter() - t
    n = _num_examples(train_iter)
    return RunResult(
        pipeline="cnncourse", repeat=repeat, epochs=epochs, num_train_examples=n,
        load_seconds=load_seconds, train_seconds=seconds,
        examples_per_sec=epochs * n / seconds, test_acc=hist.test_acc[-1],
        train_loss=hist.train_loss[-1], train_acc=hist.train_acc[-1],
        peak_memory_bytes=mem.peak, memory_kind=mem.kind,
        epoch_seconds=list(hist.epoch_seconds), test_acc_per_epoch=list(hist.test_acc),
        self_reported_examples_per_sec=hist.examples_per_sec, loadavg_before=load)


# ----------------------------------------------------------------- summary
def _stats(runs: list[RunResult]) -> dict:
    rates = [r.examples_per_sec for r in runs]
    accs = [r.test_acc for r in runs]
    mems = [r.peak_memory_bytes for r in runs if r.peak_memory_bytes is not None]
    return {
        "runs": len(runs),
        "examples_per_sec_median": statistics.median(rates),
        "examples_per_sec_min": min(rates),
        "examples_per_sec_max": max(rates),
        "seconds_per_epoch_median": statistics.median(r.train_seconds / r.epochs for r in runs),
        "test_acc_mean": statistics.fmean(accs),
        "test_acc_min": min(accs),
        "test_acc_max": max(accs),
        "peak_memory_bytes": max(mems) if mems else None,
        "load_seconds_median": statistics.median(r.load_seconds for r in runs),
    }


def _check(measured, op: str, value) -> bool | None:
    if measured is None:
        return None
    return measured >= value if op == ">=" else measured <= value


def measured_values(summary: dict) -> dict:
    """What the targets are checked against, from a summary (also from older results files)."""
    c = summary["cnncourse"]
    return {
        "ratio": summary["ratio"],
        "examples_per_sec": c["examples_per_sec_median"],
        "seconds_per_epoch": c["seconds_per_epoch_median"],
        "accuracy_ok": 1.0 if summary["accuracy_ok"] else 0.0,
        "peak_memory_bytes": c["peak_memory_bytes"],
    }


def check_targets(targets: list, measured: dict) -> list[dict]:
    """Each (key, op, value, words) target with what was measured and whether it is met."""
    return [{"what": words, "key": key, "op": op, "target": value,
             "measured": measured[key], "met": _check(measured[key], op, value)}
            for key, op, value, words in targets]


def summarize(case: Case, device: torch.device, runs: list[RunResult]) -> dict:
    """Medians, the speed ratio, the accuracy band and the case's targets for this device."""
    timed = [r for r in runs if r.repeat >= 0]
    d2l_runs = [r for r in timed if r.pipeline == "d2l"]
    cnn_runs = [r for r in timed if r.pipeline == "cnncourse"]
    d, c = _stats(d2l_runs), _stats(cnn_runs)
    ratio = c["examples_per_sec_median"] / d["examples_per_sec_median"]
    # Accuracy holds if cnncourse is on average no worse than d2l's worst run.
    accuracy_ok = c["test_acc_mean"] >= d["test_acc_min"]
    # Paired ratios: the two runs of a repeat ran back to back, so a change in the machine's
    # load between repeats cancels out of these.
    paired = []
    for rep in sorted({r.repeat for r in timed}):
        pair = {r.pipeline: r.examples_per_sec for r in timed if r.repeat == rep}
        if len(pair) == 2:
            paired.append(pair["cnncourse"] / pair["d2l"])
    summary = {"d2l": d, "cnncourse": c, "ratio": ratio, "ratio_per_repeat": paired,
               "accuracy_ok": accuracy_ok}
    summary["targets"] = check_targets(case.targets.get(device.type, []),
                                       measured_values(summary))
    return summary


def run_benchmark(case: Case, device: torch.device | str, *, epochs: int | None = None,
                  repeats: int = 3, warmup_epochs: int = 1, seed: int = 0,
                  d2l_loaders: LoaderFactory | None = None,
                  cnn_loaders: LoaderFactory | None = None,
                  out: Path | None = None, command: str = "",
                  log: Callable[[str], None] = print) -> dict:
    """Warm up, then alternate d2l and cnncourse ``repeats`` times; return (and write) the
    record."""
    device = torch.device(device)
    epochs = case.epochs if epochs is None else epochs
    record = {"case": case.name, "title": case.title, "device_type": device.type,
              "environment": environment(device), "command": command,
              "settings": {"model": case.model_name, "batch_size": case.batch_size,
                           "lr": case.lr, "epochs": epochs, "resize": case.resize,
                           "repeats": repeats, "warmup_epochs": warmup_epochs, "seed": seed,
                           "cnncourse_options": dict(case.cnn_options)}}
    pipelines = [("d2l", run_d2l, d2l_loaders), ("cnncourse", run_cnncourse, cnn_loaders)]
    runs: list[RunResult] = []

    def save(complete: bool) -> None:
        # written after every run, so an interrupted benchmark still leaves its finished runs
        record["complete"] = complete
        record["runs"] = [asdict(r) for r in runs]
        if {r.pipeline for r in runs if r.repeat >= 0} == {"d2l", "cnncourse"}:
            record["summary"] = summarize(case, device, runs)
        if out is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(record, indent=1) + "\n")

    if warmup_epochs > 0:
        for name, fn, loaders in pipelines:
            r = fn(case, device, warmup_epochs, -1, seed, loaders)
            log(f"warm-up {name:9s}: {r.examples_per_sec:10.0f} examples/s")
            runs.append(r)
    for rep in range(repeats):
        # alternate, and swap who goes first every repeat so neither always runs "after"
        order = pipelines if rep % 2 == 0 else pipelines[::-1]
        for name, fn, loaders in order:
            r = fn(case, device, epochs, rep, seed + rep, loaders)
            mem = f"{r.peak_memory_bytes / 2**20:7.0f} MiB" if r.peak_memory_bytes else "   n/a"
            log(f"repeat {rep} {name:9s}: {r.examples_per_sec:10.0f} examples/s, "
                f"{r.train_seconds:7.1f} s, test acc {r.test_acc:.4f}, peak {mem}")
            runs.append(r)
            save(complete=False)
    save(complete=True)
    s = record["summary"]
    log(f"{case.name} on {device}: cnncourse / d2l = {s['ratio']:.2f}x "
        f"({s['cnncourse']['examples_per_sec_median']:.0f} vs "
        f"{s['d2l']['examples_per_sec_median']:.0f} examples/s); "
        f"test acc {s['cnncourse']['test_acc_mean']:.4f} vs d2l "
        f"{s['d2l']['test_acc_min']:.4f}..{s['d2l']['test_acc_max']:.4f}")
    for t in s["targets"]:
        log(f"  target {t['what']}: {'met' if t['met'] else 'NOT met'} "
            f"(measured {t['measured']:.4g})")
    if out is not None:
        log(f"wrote {out}")
    return record


def main(case: Case, script: str, argv: list[str] | None = None,
         description: str = "", extra_args: list[str] | None = None) -> dict:
    """Command line shared by the comparison scripts."""
    p = argparse.ArgumentParser(description=description or f"d2l vs cnncourse: {case.title}")
    p.add_argument("--device", default="auto",
                   help="cpu, cuda, cuda:N or auto (CUDA when present; default)")
    p.add_argument("--epochs", type=int, default=case.epochs,
                   help=f"epochs per timed run (default {case.epochs})")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each pipeline")
    p.add_argument("--warmup-epochs", type=int, default=1, help="epochs of the untimed warm-up")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cuda-graph", action="store_true",
                   help="cnncourse must record its training step as a CUDA graph "
                        "(train_ch6(..., cuda_graph=True), which warns when it cannot; the "
                        "default 'auto' records it silently when it can); results go to "
                        "<case>-graph-<device>")
    p.add_argument("--eager", action="store_true",
                   help="cnncourse trains without a CUDA graph (train_ch6(..., cuda_graph=False), "
                        "the default before the graph was); results go to <case>-eager-<device>")
    p.add_argument("--out", default="",
                   help="results file (default cnncourse/results/<case>-<device>.json; "
                        "'-' writes none)")
    args = p.parse_args(argv)
    if args.cuda_graph:
        case = replace(case, name=f"{case.name}-graph", title=f"{case.title}, CUDA graph",
                       cnn_options={**case.cnn_options, "cuda_graph": True})
        extra_args = [*(extra_args or []), "--cuda-graph"]
    if args.eager:
        if args.cuda_graph:
            p.error("--eager and --cuda-graph contradict each other; pass one of them")
        case = replace(case, name=f"{case.name}-eager", title=f"{case.title}, no CUDA graph",
                       cnn_options={**case.cnn_options, "cuda_graph": False})
        extra_args = [*(extra_args or []), "--eager"]
    device = (cnncourse.try_gpu() if args.device == "auto" else torch.device(args.device))
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda, but PyTorch sees no CUDA device here")
    try:
        import_d2l()
    except ImportError as err:
        p.error(f"d2l is not installed ({err}); install it with: {D2L_INSTALL}")
    if args.out == "-":
        out = None
    elif args.out:
        out = Path(args.out)
    else:
        suffix = "" if args.epochs == case.epochs else f"-{args.epochs}ep"
        out = RESULTS_DIR / f"{case.name}-{device.type}{suffix}.json"
    command = (f"python benchmarks/{script} --device {device.type} --epochs {args.epochs} "
               f"--repeats {args.repeats}" + "".join(f" {a}" for a in extra_args or []))
    return run_benchmark(case, device, epochs=args.epochs, repeats=args.repeats,
                         warmup_epochs=args.warmup_epochs, seed=args.seed, out=out,
                         command=command)
