"""Run every chapter, the AlexNet record script and the GPU benchmarks; write one summary.

    make gpu-check                         # full budget on CUDA, smoke elsewhere
    python -m bookfactory gpu-check --budget cpu --chapters alexnet,lenet --benchmarks none

Why one command: the course promises that each chapter runs in every budget and on every
device, and a GPU is borrowed for minutes at a time. This executes each chapter notebook
as the claims survey does (``bookfactory.execute``: a kernel started in ``chapters/``,
``CNNCOURSE_BUDGET`` set, every cell in order, the first error stops the chapter), then
``scripts/train_alexnet.py`` and the d2l-vs-cnncourse benchmarks through their own command
lines, and writes ``summary.md`` + ``summary.json`` (per chapter: passed, or the failing cell
and its error, and the seconds; per benchmark: the speed ratio) with the executed notebooks
and the result files, into ``$OUT`` when it is set (the device tool brings that folder
back), else ``_build/gpu-check``. On a CUDA machine without network, carry the wheels and
the data with ``benchmarks/gpu_kit.sh`` (``make gpu-check`` does that when ``.kit/`` is
there). Sized for about 7 minutes on one H100 in the ``full`` budget.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Without CUDA this is a check that every step runs, not a book: the smallest budget.
DEFAULT_FOR = {"cuda": "full", "cpu": "smoke"}
TRAIN_ALEXNET = "scripts/train_alexnet.py"
CELL_TIMEOUT_S = 1800  # per cell, as generous as the book build's longest cell needs

# name -> (script, arguments per budget, result file stem). The benchmarks' own CLI: on CUDA a
# short but real comparison (warm-up, then one timed repeat), sized to fit the 8-minute check;
# on a CPU only LeNet, one epoch (an AlexNet epoch at 224 takes many minutes there).
BENCHMARKS = {
    "lenet": ("benchmarks/bench_lenet.py",
              {"cuda": ["--epochs", "3", "--repeats", "1", "--warmup-epochs", "1"],
               "cpu": ["--epochs", "1", "--repeats", "1", "--warmup-epochs", "0"]}),
    "alexnet": ("benchmarks/bench_alexnet.py",
                {"cuda": ["--epochs", "1", "--repeats", "1", "--warmup-epochs", "0"]}),
}


@dataclass
class Outcome:
    """One step of the check: a chapter, a script or a benchmark."""
    kind: str
    name: str
    status: str = "not run"          # passed | failed | skipped
    seconds: float = 0.0
    detail: str = ""                 # the failing cell and error, or why it was skipped
    ratio: float | None = None       # benchmarks: cnncourse / d2l examples per second
    files: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ choices
def choose_budget(explicit: str | None, device: str) -> str:
    """``--budget``, else CNNCOURSE_BUDGET, else ``full`` on a CUDA device, ``smoke`` elsewhere."""
    from cnncourse.budget import resolve_budget

    return resolve_budget(explicit, default_for=DEFAULT_FOR,
                          cuda=device.startswith("cuda")).name


def book_chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks in the book's order (``_toc.yml``), as the build executes them."""
    from bookfactory import toc

    return [root / "chapters" / f"{name}.ipynb" for name in toc.chapters(root / "_toc.yml")]


def select(chapters: list[Path], names: str | None) -> list[Path]:
    if not names:
        return chapters
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    by_name = {p.stem: p for p in chapters}
    extra = [Path(n) for n in wanted if n.endswith(".ipynb")]  # a notebook outside the book
    unknown = [n for n in wanted if not n.endswith(".ipynb") and n not in by_name]
    if unknown:
        raise SystemExit(f"unknown chapter(s) {unknown}: choose from {', '.join(by_name)} "
                         "or give a path to a .ipynb")
    return [by_name[n] for n in wanted if n in by_name] + [p.resolve() for p in extra]


# ------------------------------------------------------------------ chapters
def run_notebook(path: Path, budget: str, out_dir: Path, timeout: int = CELL_TIMEOUT_S,
                 ) -> Outcome:
    """Execute one chapter (``bookfactory.execute``, as the claims survey does); keep it."""
    import nbformat

    from bookfactory.execute import execute_chapter

    run = execute_chapter(path, budget=budget, timeout=timeout,
                          env={"MPLBACKEND": os.environ.get("MPLBACKEND", "Agg")})
    outcome = Outcome("chapter", path.stem, "passed" if run.passed else "failed",
                      seconds=run.seconds, detail=run.describe())
    dest = out_dir / "notebooks" / path.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(run.notebook, dest)
    outcome.files.append(str(dest))
    return outcome


# ------------------------------------------------------------------ scripts, benchmarks
def _run(cmd: list[str], budget: str, log: Path, timeout: int) -> tuple[int, float]:
    env = dict(os.environ, CNNCOURSE_BUDGET=budget, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    start = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        try:
            rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = 124
            f.write(f"\n(killed after {timeout} s)\n")
    return rc, time.perf_counter() - start


def _tail(log: Path, n: int = 3) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[:500]


def run_train_alexnet(budget: str, device: str, out_dir: Path, timeout: int) -> Outcome:
    """scripts/train_alexnet.py in this budget; its record goes to the results folder."""
    outcome = Outcome("script", "train_alexnet")
    result = out_dir / "results" / f"alexnet_{budget}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    log = out_dir / "logs" / "train_alexnet.log"
    rc, outcome.seconds = _run([sys.executable, TRAIN_ALEXNET, "--out", str(result),
                                "--device", device], budget, log, timeout)
    outcome.files = [str(log)] + ([str(result)] if result.exists() else [])
    if rc == 0 and result.exists():
        record = json.loads(result.read_text())
        outcome.status = "passed"
        outcome.detail = "; ".join(
            f"{name}: test acc {r['test_acc'][-1]:.3f}, "
            f"{sum(r['epoch_seconds']) / len(r['epoch_seconds']):.1f} s/epoch"
            for name, r in record["runs"].items())
    else:
        outcome.status, outcome.detail = "failed", f"exit {rc}: {_tail(log)}"
    return outcome


def run_benchmark(name: str, device: str, out_dir: Path, timeout: int,
                  budget: str = "full") -> Outcome:
    """One benchmark script through its own command line; read the ratio from its JSON."""
    outcome = Outcome("benchmark", name)
    script, sizes = BENCHMARKS[name]
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if kind not in sizes:
        outcome.status = "skipped"
        outcome.detail = f"not run on {kind}: one epoch there takes too long for this check"
        return outcome
    result = out_dir / "results" / f"bench_{name}-{kind}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    log = out_dir / "logs" / f"bench_{name}.log"
    rc, outcome.seconds = _run([sys.executable, script, "--device", device, *sizes[kind],
                                "--out", str(result)], budget, log, timeout)
    outcome.files = [str(log)] + ([str(result)] if result.exists() else [])
    try:
        summary = json.loads(result.read_text())["summary"]
        outcome.ratio = float(summary["ratio"])
    except (OSError, KeyError, ValueError, TypeError):
        summary = None
    if rc == 0 and summary is not None:
        outcome.status = "passed"
        c, d = summary["cnncourse"], summary["d2l"]
        outcome.detail = (f"cnncourse {c['examples_per_sec_median']:,.0f} vs d2l "
                          f"{d['examples_per_sec_median']:,.0f} examples/s")
    else:
        outcome.status, outcome.detail = "failed", f"exit {rc}: {_tail(log)}"
    return outcome


# ------------------------------------------------------------------ summary
def environment(device: str) -> dict:
    import torch
    env = {"python": sys.version.split()[0], "torch": torch.__version__, "device": device,
           "device_name": (torch.cuda.get_device_name(0) if device.startswith("cuda")
                           else "CPU"),
           "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    from bookfactory.provenance import git_commit

    env["commit"] = git_commit(ROOT)
    return env


def write_summary(outcomes: list[Outcome], env: dict, budget: str, out_dir: Path,
                  total_s: float) -> str:
    failed = [o for o in outcomes if o.status == "failed"]
    lines = [f"# gpu-check: {'PASSED' if not failed else f'{len(failed)} FAILED'}", "",
             f"budget {budget}, {env['device']} ({env['device_name']}), torch {env['torch']}, "
             f"commit {env.get('commit') or 'unknown'}, {env['date_utc']}, "
             f"{total_s:.0f} s in all", "",
             "| step | name | result | seconds | ratio | detail |",
             "| --- | --- | --- | ---: | ---: | --- |"]
    for o in outcomes:
        ratio = f"{o.ratio:.2f}x" if o.ratio is not None else ""
        detail = o.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {o.kind} | {o.name} | {o.status} | {o.seconds:.0f} | {ratio} "
                     f"| {detail} |")
    text = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.md").write_text(text)
    (out_dir / "summary.json").write_text(json.dumps(
        {"passed": not failed, "budget": budget, "environment": env,
         "total_seconds": total_s, "steps": [asdict(o) for o in outcomes]}, indent=1) + "\n")
    return text


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", default=None,
                   help="smoke, cpu or full (default: CNNCOURSE_BUDGET, else full on CUDA "
                        "and smoke elsewhere)")
    p.add_argument("--chapters", default=None,
                   help="comma-separated chapter names (or .ipynb paths); default: every "
                        "chapter of _toc.yml; 'none' for none")
    p.add_argument("--scripts", default="train_alexnet", help="train_alexnet or none")
    p.add_argument("--benchmarks", default=",".join(BENCHMARKS),
                   help=f"comma-separated from {', '.join(BENCHMARKS)}, or none")
    p.add_argument("--device", default=None, help="default: cuda when present, else cpu")
    p.add_argument("--out", default=None,
                   help="folder for the summary and results (default: $OUT, else "
                        "_build/gpu-check)")
    p.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S,
                   help="seconds per notebook cell, and per script or benchmark")
    args = p.parse_args(argv)

    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
        import ipykernel  # noqa: F401
        import torch

        import cnncourse  # noqa: F401
    except ImportError as err:
        p.error(f"{err}: the check needs nbclient, nbformat, ipykernel, torch and cnncourse "
                "(`make gpu-check` sets them up). On a machine without network: 'bash "
                "benchmarks/gpu_kit.sh prepare' where pip works, carry .kit/, then "
                "'make gpu-check'")
    from cnncourse.budget import BudgetError

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        budget = choose_budget(args.budget, device)
    except BudgetError as err:
        p.error(str(err))
    out_dir = Path(args.out or os.environ.get("OUT") or ROOT / "_build" / "gpu-check")
    out_dir = out_dir.resolve()
    chapters = ([] if args.chapters == "none" else select(book_chapters(), args.chapters))
    scripts = [s for s in args.scripts.split(",") if s.strip() and s != "none"]
    benches = [b for b in args.benchmarks.split(",") if b.strip() and b != "none"]
    unknown = [b for b in benches if b not in BENCHMARKS] + \
        [s for s in scripts if s != "train_alexnet"]
    if unknown:
        p.error(f"unknown script or benchmark {unknown}")

    env = environment(device)
    print(f"gpu-check: budget {budget}, {device} ({env['device_name']}), "
          f"{len(chapters)} chapter(s), scripts {scripts or 'none'}, "
          f"benchmarks {benches or 'none'} -> {out_dir}", flush=True)
    outcomes: list[Outcome] = []
    start = time.perf_counter()

    def note(o: Outcome) -> None:
        outcomes.append(o)
        ratio = f", {o.ratio:.2f}x" if o.ratio is not None else ""
        print(f"  {o.kind:9s} {o.name:16s} {o.status:7s} {o.seconds:6.0f} s{ratio}"
              + (f"  {o.detail}" if o.detail else ""), flush=True)
        write_summary(outcomes, env, budget, out_dir, time.perf_counter() - start)

    for nb in chapters:
        try:
            note(run_notebook(nb, budget, out_dir, args.timeout))
        except Exception:  # a bug here must not hide the other chapters' results
            note(Outcome("chapter", nb.stem, "failed",
                         detail=traceback.format_exc(limit=2)[-500:]))
    if "train_alexnet" in scripts:
        note(run_train_alexnet(budget, device, out_dir, args.timeout))
    for name in benches:
        note(run_benchmark(name, device, out_dir, args.timeout, budget))
    text = write_summary(outcomes, env, budget, out_dir, time.perf_counter() - start)
    print("\n" + text + f"\nwritten to {out_dir}/summary.md", flush=True)
    return 0 if all(o.status != "failed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
