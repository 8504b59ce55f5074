"""How robust is each claim? Every chapter over seeds and CPU arithmetics, and what its claims saw.

    python -m bookfactory claims                          # cpu budget, seeds 0-4, every chapter
    python -m bookfactory claims --budget smoke --seeds 0 1 --chapters conv_pool
    python -m bookfactory claims --budget smoke --threads 1 default --kernels best avx2 default
    python -m bookfactory claims --budget smoke --python .venv-oldest/bin/python   # oldest PyTorch
    python -m bookfactory claims --chapters lenet --update   # redo one chapter, keep the others
    python -m bookfactory claims --resume                 # go on with an interrupted survey
    python -m bookfactory claims --budget smoke --merge a.json b.json --out all.json

Each chapter guards the sentences that state a result with ``cnncourse.claim(name,
value, above=..., below=...)``. This script executes the chapter (its MyST source, in
``chapters/``) once per seed with ``CNNCOURSE_SEED`` set, so every experiment the chapter
seeds from ``run_seed()`` starts elsewhere, and with ``CNNCOURSE_CLAIMS`` set, so each
claim writes down its value instead of stopping the run.

The seed is not the only thing that moves a result: another CPU rounds differently. So every
seed runs once per *combination* of the perturbation axes:

* ``--threads``: PyTorch's thread count (``OMP_NUM_THREADS``; ``default`` leaves it unset);
* ``--kernels``: which CPU kernels PyTorch and oneDNN take (``KERNELS`` below: ``best`` is the
  machine's own, ``avx2`` what an AVX2-only CPU such as an AMD EPYC takes, ``default`` and
  ``sse41`` the portable ones);
* ``--python``: the interpreter the chapter's kernel runs in, to survey another PyTorch (the
  oldest supported: ``make test-oldest`` builds it); it must import this checkout's cnncourse.

The result, per claim: its value in every run, min / median / max overall and per
combination, how many runs held, and the margin of the worst run to the bound. The appendix
page ``book/claims.md`` shows ``cnncourse/results/claims-BUDGET.json``; the book build
executes its pages again when a file of that folder changes.

Nothing is lost and nothing half-written is shown: finished runs go to a journal beside the
results file (``claims-BUDGET.partial.jsonl``); the results file and the page are replaced
(written aside, then renamed) only when the survey is complete. Ctrl-C stops the survey at once,
dropping the run of the chapter that was running; the previous results stay as they were, and
``--resume`` goes on from the journal. A kill leaves the journal, nothing in a temporary folder.

It is a benchmark, not a test: the cpu survey of every chapter over five seeds takes
about five times a cpu book build. The test suite runs it at smoke size on a test chapter.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bookfactory.execute import execute_chapter, patched_environ

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
RESULTS = ROOT / "cnncourse" / "results"  # the one folder of recorded results
PAGE = ROOT / "book" / "claims.md"
FORMAT = 2  # results file format: 1 had seeds only (no "combos")

# CPU kernels: the environment each choice sets (a variable not named is unset). ATen picks
# its vectorised kernels by ATEN_CPU_CAPABILITY, oneDNN (convolutions) by ONEDNN_MAX_CPU_ISA.
KERNEL_VARS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
KERNELS = {
    "best": {},  # the machine's own: what a reader on this CPU gets
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},  # AVX2-only CPUs
    "default": {"ATEN_CPU_CAPABILITY": "default"},  # ATen's portable kernels, oneDNN's best
    "sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},  # both portable
}
KERNEL_ALIASES = {"native": "best"}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

# What the kernel's interpreter reports about itself, with the combination's environment set.
PROBE = """\
import json, platform, torch, cnncourse
print(json.dumps({"torch": torch.__version__.split("+")[0], "python": platform.python_version(),
                  "threads": torch.get_num_threads(),
                  "capability": torch.backends.cpu.get_cpu_capability(),
                  "cnncourse": cnncourse.__file__}))
"""


class Interrupted(Exception):
    """The survey was asked to stop (Ctrl-C or SIGTERM)."""


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` by replacing it: a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        aside.write_text(text, encoding="utf-8")
        os.replace(aside, path)
    finally:
        aside.unlink(missing_ok=True)


def chapters_in_toc() -> list[str]:
    """The chapters of ``_toc.yml``, in reading order."""
    from bookfactory.toc import chapters

    return chapters(ROOT / "_toc.yml")


# ---------------------------------------------------------------------------------------------
# Combinations of the perturbation axes


def combo_env(kernels: str, threads: str) -> dict[str, str | None]:
    """The environment of one combination: a value to set, or None to unset."""
    env: dict[str, str | None] = {var: None for var in KERNEL_VARS + THREAD_VARS}
    env.update(KERNELS[kernels])
    if threads != "default":
        env.update({var: threads for var in THREAD_VARS})
    return env


def probe(python: str, env: dict[str, str | None]) -> dict:
    """Ask ``python`` (with ``env``) for its PyTorch, Python, thread count and cnncourse."""
    with patched_environ(env):
        done = subprocess.run([python, "-c", PROBE], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"claims.py: {python} cannot import torch and cnncourse:\n"
                         f"{done.stderr.strip()[-1500:]}\nInstall them into that environment "
                         f"(pip install -e {ROOT}) or choose another --python.")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    found = Path(info["cnncourse"]).resolve().parent
    if found != (ROOT / "cnncourse").resolve():
        raise SystemExit(f"claims.py: {python} imports cnncourse from {found}, not from this "
                         f"checkout ({ROOT}); the survey would measure other code. Run "
                         f"`{python} -m pip install --no-deps -e {ROOT}` first.")
    return info


def combo_id(kernels: str, threads: int, torch_version: str) -> str:
    """A combination's short name: kernels, thread count, PyTorch (``avx2-t1-torch2.11.0``)."""
    return f"{kernels}-t{threads}-torch{torch_version}"


def make_combos(kernels: list[str], threads: list[str], pythons: list[str]) -> list[dict]:
    """Every combination of the axes, each probed: what it sets and what the kernel gets."""
    combos = []
    for given in pythons:
        # an absolute path: the chapters' kernels start in chapters/, not where this ran
        python = shutil.which(given) if os.sep not in given else str(Path(given).absolute())
        if python is None or not Path(python).is_file():
            raise SystemExit(f"claims.py: --python {given}: no such interpreter")
        if Path(python).resolve() == Path(sys.executable).resolve():
            python = sys.executable
        for k in kernels:
            for t in threads:
                env = combo_env(k, t)
                info = probe(python, env)
                wanted = env.get("ATEN_CPU_CAPABILITY")
                if wanted and info["capability"].lower() != wanted.lower():
                    print(f"claims.py: --kernels {k}: PyTorch uses {info['capability']} here "
                          f"(this CPU lacks {wanted}); recorded as such", file=sys.stderr)
                combos.append({
                    "id": combo_id(k, info["threads"], info["torch"]), "kernels": k,
                    "threads": t, "torch_threads": info["threads"],
                    "capability": info["capability"], "torch": info["torch"],
                    "python": info["python"],
                    "interpreter": "this one" if python == sys.executable else python,
                    "env": {key: value for key, value in env.items() if value is not None}})
    ids = [c["id"] for c in combos]
    if len(set(ids)) < len(ids):
        raise SystemExit(f"claims.py: two combinations come out the same ({', '.join(ids)}); "
                         "drop a repeated --threads, --kernels or --python")
    return combos


# ---------------------------------------------------------------------------------------------
# Running a chapter


_state = {"stop": False, "client": None}


def _signal_kernel(km, signum: int) -> None:
    """Send ``signum`` to the kernel's process group (Ctrl-C in a notebook does the same)."""
    if km is None:
        return
    provisioner = getattr(km, "provisioner", None)
    try:
        if getattr(provisioner, "pgid", None):
            os.killpg(provisioner.pgid, signum)
        elif getattr(provisioner, "pid", None):
            os.kill(provisioner.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # gone already


def _on_signal(signum, frame=None):
    """Ctrl-C or SIGTERM: stop the survey now; a second Ctrl-C stops even the waiting.

    The running chapter's kernel is killed, not interrupted: its run is not kept, so nothing
    is lost with it, and a chapter may catch an interrupt and go on for minutes (``train_ch6``
    does, to return the history so far). Installed for the process and, while a chapter runs,
    in nbclient's event loop, in place of nbclient's own handler (which shut the kernel down
    and reported a failed cell: the survey then took an interrupt for a failed run, went on
    with the next one and called the survey complete).
    """
    again = _state["stop"]
    _state["stop"] = True
    _signal_kernel(getattr(_state["client"], "km", None), signal.SIGKILL)
    if again:
        raise KeyboardInterrupt
    print("\nclaims.py: stopping (the running chapter's run is dropped, the finished runs are "
          "kept; Ctrl-C again to stop at once)", file=sys.stderr, flush=True)


def _install_handlers() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)


def _install_loop_handlers(**_) -> None:
    """nbclient's hook once the kernel is up: our handlers in place of nbclient's."""
    import asyncio

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, _on_signal, signum)
        except (RuntimeError, NotImplementedError, ValueError):
            pass  # not the main thread, or no signals here: the process handlers stay


def run_chapter(name: str, seed: int, budget: str, record: Path, timeout: int,
                keep: Path | None = None, combo: dict | None = None) -> str | None:
    """Execute ``chapters/NAME.md`` with the seed; the claims go to ``record``. Error or None.

    The run is ``bookfactory.execute.execute_chapter``'s, as the GPU check's. ``combo``: the
    combination's environment and interpreter (default: this one, unchanged). ``keep``: where
    to save the executed notebook (to compare its outputs with another run). Raises
    ``Interrupted`` when the survey is asked to stop during the run.
    """
    import nbformat

    env: dict[str, str | None] = {}
    python = None
    if combo:
        env = {**{var: None for var in KERNEL_VARS + THREAD_VARS}, **combo["env"]}
        if combo.get("interpreter", "this one") != "this one":
            python = combo["interpreter"]
    run = None
    try:
        run = execute_chapter(CHAPTERS / f"{name}.md", budget=budget, seed=seed, env=env,
                              claims=record,
                              timeout=timeout, python=python,
                              connection_file=record.with_suffix(".kernel.json"),
                              on_notebook_start=_install_loop_handlers,
                              on_client=lambda client: _state.update(client=client))
    except KeyboardInterrupt:
        raise Interrupted from None
    finally:
        _install_handlers()  # nbclient leaves Python's defaults behind
        if _state["stop"]:  # nbclient shuts its kernel down, unless it was stopped midway
            _signal_kernel(getattr(_state["client"], "km", None), signal.SIGKILL)
        _state["client"] = None
        if keep is not None and run is not None:
            nbformat.write(run.notebook, keep)
    if _state["stop"]:
        raise Interrupted
    return run.error


# ---------------------------------------------------------------------------------------------
# Summaries


def margin_of(value: float, above: float | None, below: float | None) -> float:
    """Distance to the bound, positive inside (NaN counts as failing by an infinite margin)."""
    if value != value:  # NaN
        return float("-inf")
    m = []
    if above is not None:
        m.append(value - above)
    if below is not None:
        m.append(below - value)
    return min(m)


def summarise(entries: list[dict]) -> list[dict]:
    """One row per claim: values by combination and seed, spread overall and per combination.

    An entry without a ``combo`` (format 1, one machine) counts as combination ``"-"``.
    """
    rows: dict[tuple[str, str], dict] = {}
    for e in entries:
        key = (e["chapter"], e["name"])
        row = rows.setdefault(key, {"chapter": e["chapter"], "name": e["name"], "says": e["says"],
                                    "above": e["above"], "below": e["below"], "values": {}})
        if (e["above"], e["below"]) != (row["above"], row["below"]):
            row.setdefault("bounds_differ", True)  # two runs checked different bounds
        per = row["values"].setdefault(e.get("combo", "-"), {})
        # a claim checked more than once in a run (in a loop) keeps its worst value
        value, old = e["value"], per.get(str(e["seed"]))
        if old is not None:
            worse = min if e["above"] is not None else max
            value = old if old != old else value if value != value else worse(value, old)
        per[str(e["seed"])] = value
    out = []
    for row in rows.values():
        by_combo = {}
        values, margins = [], []
        for combo, per in row["values"].items():
            vs = list(per.values())
            ms = [margin_of(v, row["above"], row["below"]) for v in vs]
            finite = [v for v in vs if v == v] or [float("nan")]
            by_combo[combo] = {"runs": len(vs), "min": min(finite), "max": max(finite),
                               "held": sum(m > 0 for m in ms), "margin": min(ms)}
            values += vs
            margins += ms
        finite = [v for v in values if v == v] or [float("nan")]
        row.update(by_combo=by_combo, runs=len(values), min=min(finite),
                   median=statistics.median(finite), max=max(finite),
                   held=sum(m > 0 for m in margins), margin=min(margins))
        row["seeds"] = row["runs"]  # format 1's name for the count
        out.append(row)
    return out


def order_rows(runs: list[dict], rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Runs and claims in the book's order (then seed and combination)."""
    order = {name: i for i, name in enumerate(chapters_in_toc())}
    runs = sorted(runs, key=lambda r: (order.get(r["chapter"], len(order)), r["seed"],
                                       r.get("combo", "")))
    rows = sorted(rows, key=lambda r: order.get(r["chapter"], len(order)))  # stable
    return runs, rows


def machine_info() -> dict:
    """The CPU (by name: a time or a rounding is the CPU's) and the accelerator, if any."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": f"{cpu}, {os.cpu_count()} logical CPUs", "device": "cpu"}
    try:
        import torch

        if torch.cuda.is_available():
            info["device"] = torch.cuda.get_device_name(0)
        info.update(torch=torch.__version__, python=platform.python_version())
    except ImportError:
        pass
    return info


# ---------------------------------------------------------------------------------------------
# Bounds changed after the survey: a survey shows what held under the bound it checked


CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.M | re.S)


def current_bounds(chapters: Path = CHAPTERS) -> dict[str, list]:
    """The bounds the chapters' ``claim(...)`` calls check now, read from their source.

    ``{chapter: [(name pattern, above, below), ...]}``; a name built with an f-string becomes a
    pattern (its fields match anything); a bound that is not a number written in the call is
    ``"?"`` (computed: not compared).
    """
    import ast

    def literal(node):
        try:
            return ast.literal_eval(node)
        except ValueError:
            return "?"

    found: dict[str, list] = {}
    for path in sorted(chapters.glob("*.md")):
        calls = found.setdefault(path.stem, [])
        for cell in CELL.findall(path.read_text(encoding="utf-8")):
            code = "\n".join(line for line in cell.splitlines()
                             if not line.lstrip().startswith(("%", "!", ":")))
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and node.args and
                        getattr(node.func, "attr", getattr(node.func, "id", "")) == "claim"):
                    continue
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    pattern = re.escape(first.value)
                elif isinstance(first, ast.JoinedStr):
                    pattern = "".join(re.escape(part.value) if isinstance(part, ast.Constant)
                                      else ".+?" for part in first.values)
                else:
                    pattern = ".+"
                bounds = {kw.arg: literal(kw.value) for kw in node.keywords
                          if kw.arg in ("above", "below")}
                calls.append((pattern, bounds.get("above"), bounds.get("below")))
    return found


def bound_changes(result: dict, chapters: Path = CHAPTERS) -> dict[str, str]:
    """``{claim name: note}`` for each surveyed claim whose chapter now checks another bound
    (or no longer checks it), and each note the results file carries (``notes``)."""
    now = current_bounds(chapters)
    notes = {n["claim"]: n["text"] for n in result.get("notes", [])}
    for row in result["claims"]:
        calls = [c for c in now.get(row["chapter"], []) if re.fullmatch(c[0], row["name"])]
        exact = [c for c in calls if c[0] != ".+"]
        if not calls:
            if row["chapter"] in now:
                notes.setdefault(row["name"], "no longer checked by its chapter")
            continue
        if not exact or any("?" in (c[1], c[2]) for c in exact):
            continue  # computed bounds: nothing to compare
        if all((c[1], c[2]) != (row["above"], row["below"]) for c in exact):
            text = " or ".join(sorted({bound_text(c[1], c[2]) for c in exact}))
            notes.setdefault(row["name"], f"the chapter now needs {text}; surveyed with "
                                          f"{bound_text(row['above'], row['below'])}: "
                                          "not surveyed again since")
    return notes


def bound_text(above, below) -> str:
    """``> 0.4``, ``< 0.5`` or ``> 0 and < 1``."""
    return " and ".join(part for part in (f"> {above:g}" if above is not None else "",
                                          f"< {below:g}" if below is not None else "") if part)


# ---------------------------------------------------------------------------------------------
# Merging results files (another machine's, or format 1's one file per combination)

OLD_NAME = re.compile(
    r"^(?:claims-)?(?P<budget>smoke|cpu|full)-(?P<kernels>[a-z0-9]+)-t(?P<t>\d+)$")


def load_for_merge(spec: str) -> tuple[dict, list[dict], list[dict]]:
    """Read ``FILE`` or ``FILE:kernels=K,threads=N``: (result, its combos, its entries).

    A format-2 file names its combinations; a format-1 file (one machine, one arithmetic)
    takes them from ``:kernels=...,threads=...`` or from a name like ``smoke-avx2-t1.json``.
    """
    path, _, extra = spec.partition(":") if not Path(spec).is_file() else (spec, "", "")
    result = json.loads(Path(path).read_text())
    if result.get("format", 1) >= 2:
        entries = [dict(e, chapter=row["chapter"], name=row["name"], says=row["says"],
                        above=row["above"], below=row["below"])
                   for row in result["claims"]
                   for e in ({"combo": c, "seed": int(s), "value": v}
                             for c, per in row["values"].items() for s, v in per.items())]
        return result, result["combos"], entries
    fields = dict(part.split("=", 1) for part in extra.split(",") if "=" in part)
    m = OLD_NAME.match(Path(path).stem)
    if m and not fields:
        fields = {"kernels": m["kernels"], "threads": m["t"]}
    if "kernels" not in fields or "threads" not in fields:
        raise SystemExit(f"claims.py: {path} has no combinations recorded (an older survey): "
                         f"name them, e.g. {path}:kernels=avx2,threads=1")
    kernels = KERNEL_ALIASES.get(fields["kernels"], fields["kernels"])
    if kernels not in KERNELS:
        raise SystemExit(f"claims.py: {spec}: unknown kernels {kernels!r}; "
                         f"choose from {', '.join(KERNELS)}")
    machine = result.get("machine", {})
    torch_version = str(machine.get("torch", "?")).split("+")[0]
    combo = {"id": combo_id(kernels, int(fields["threads"]), torch_version), "kernels": kernels,
             "threads": fields["threads"], "torch_threads": int(fields["threads"]),
             "capability": None, "torch": torch_version, "python": machine.get("python"),
             "interpreter": "this one", "env": KERNELS[kernels], "from": Path(path).name}
    entries = [{"chapter": row["chapter"], "name": row["name"], "says": row["says"],
                "above": row["above"], "below": row["below"], "combo": combo["id"],
                "seed": int(s), "value": v}
               for row in result["claims"] for s, v in row["values"].items()]
    for run in result["runs"]:
        run["combo"] = combo["id"]
    return result, [combo], entries


def merge(specs: list[str], budget: str | None) -> dict:
    """One results file of several: their combinations side by side (a later file's run wins)."""
    combos: dict[str, dict] = {}
    runs: dict[tuple, dict] = {}
    entries: dict[tuple, dict] = {}
    seeds: set[int] = set()
    complete, machines, notes, dates = True, [], [], []
    for spec in specs:
        result, its_combos, its_entries = load_for_merge(spec)
        if budget is None:
            budget = result["budget"]
        if result["budget"] != budget:
            raise SystemExit(f"claims.py: {spec} is a {result['budget']} survey, not {budget}: "
                             "merge one budget at a time")
        combos.update({c["id"]: c for c in its_combos})
        for run in result["runs"]:
            runs[run["chapter"], run["seed"], run.get("combo")] = run
        for e in its_entries:
            entries[e["chapter"], e["name"], e["combo"], e["seed"]] = e
        seeds |= set(result["seeds"])
        complete &= bool(result.get("complete", True))
        machines.append(result.get("machine", {}))
        notes += result.get("notes", [])
        dates.append(result.get("date", ""))
    runs_list, rows = order_rows(list(runs.values()), summarise(list(entries.values())))
    return {"format": FORMAT, "budget": budget, "seeds": sorted(seeds),
            "date": max(dates), "machine": machines[-1], "complete": complete,
            "combos": list(combos.values()), "runs": runs_list, "claims": rows,
            "notes": notes}


# ---------------------------------------------------------------------------------------------
# The journal: finished runs, so an interrupted survey loses nothing and can go on


def journal_path(out: Path) -> Path:
    return out.with_name(out.stem + ".partial.jsonl")


def read_journal(path: Path) -> tuple[dict | None, list[dict], list[dict]]:
    """(plan, runs, entries) of the runs that finished; a run cut off midway is dropped."""
    plan, runs, entries, pending = None, [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except ValueError:  # a line cut off by a kill
            continue
        if "plan" in item:
            plan = item["plan"]
        elif "run" in item:
            run = item["run"]
            runs.append(run)
            entries += [dict(e, combo=run["combo"], seed=run["seed"]) for e in pending]
            pending = []
        elif "name" in item:  # a claim, written by the chapter's kernel
            pending.append(item)
    return plan, runs, entries


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from cnncourse.budget import resolve_budget  # installed package; chosen like every program

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default=None, help="smoke, cpu or full (default: as the book)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--chapters", nargs="+", default=None, help="default: all, in toc order")
    parser.add_argument("--threads", nargs="+", default=["default"],
                        help="PyTorch thread counts: numbers, or 'default' (unset)")
    parser.add_argument("--kernels", nargs="+", default=["best"],
                        help=f"CPU kernels: {', '.join(KERNELS)} (default: best, the machine's)")
    parser.add_argument("--python", nargs="+", default=[sys.executable],
                        help="interpreters to run the chapters in (another PyTorch); "
                             "each must have this checkout's cnncourse installed")
    parser.add_argument("--out", default=None,
                        help="results file (default: cnncourse/results/claims-BUDGET.json)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--keep", default=None,
                        help="folder for the executed notebooks (NAME-sSEED-COMBO.ipynb)")
    parser.add_argument("--update", action="store_true",
                        help="replace only these chapters' results in an existing results file")
    parser.add_argument("--resume", action="store_true",
                        help="go on with the interrupted survey of the journal beside --out")
    parser.add_argument("--partial", action="store_true",
                        help="write the results of the interrupted survey's finished runs "
                             "(marked incomplete; the journal stays for --resume)")
    parser.add_argument("--merge", nargs="+", default=None, metavar="FILE[:kernels=K,threads=N]",
                        help="merge results files into --out instead of running anything")
    args = parser.parse_args(argv)

    if args.merge:
        budget = resolve_budget(args.budget).name if args.budget else None
        result = merge(args.merge, budget)
        out = Path(args.out) if args.out else RESULTS / f"claims-{result['budget']}.json"
        write_atomically(out, json.dumps(result, indent=1) + "\n")
        report(result, out)
        return 0

    budget = resolve_budget(args.budget).name
    names = args.chapters or chapters_in_toc()
    unknown = [n for n in names if not (CHAPTERS / f"{n}.md").is_file()]
    if unknown:
        parser.error(f"no chapter {', '.join(unknown)} in chapters/; "
                     f"choose from {', '.join(chapters_in_toc())}")
    kernels = [KERNEL_ALIASES.get(k, k) for k in args.kernels]
    bad = [k for k in kernels if k not in KERNELS]
    if bad:
        parser.error(f"--kernels {' '.join(bad)}: choose from {', '.join(KERNELS)}")
    bad = [t for t in args.threads if t != "default" and not (t.isdigit() and int(t) > 0)]
    if bad:
        parser.error(f"--threads {' '.join(bad)}: give counts such as 1 2, or 'default'")
    out = Path(args.out) if args.out else RESULTS / f"claims-{budget}.json"
    journal = journal_path(out)

    combos = make_combos(kernels, args.threads, args.python)
    plan = {"budget": budget, "seeds": args.seeds, "chapters": names,
            "combos": [c["id"] for c in combos]}
    last = None
    if args.update and out.is_file():
        last = json.loads(out.read_text())
        last_combos = sorted(c["id"] for c in last.get("combos", []))
        if (last.get("budget") != budget or last.get("seeds") != args.seeds
                or last_combos != sorted(plan["combos"])):
            parser.error(f"--update: {out} holds budget {last.get('budget')}, seeds "
                         f"{last.get('seeds')}, combinations {last_combos or 'not recorded'}; "
                         f"survey the same or drop --update")
    done_runs: list[dict] = []
    entries: list[dict] = []
    if args.partial:
        if not journal.is_file():
            parser.error(f"--partial: no journal of an interrupted survey at {journal}")
        old_plan, done_runs, entries = read_journal(journal)
        if old_plan != plan:
            parser.error(f"--partial: {journal} was another survey ({old_plan})")
        done_runs, rows = order_rows(done_runs, summarise(entries))
        result = {"format": FORMAT, "budget": budget, "seeds": args.seeds,
                  "date": time.strftime("%Y-%m-%d"), "machine": machine_info(),
                  "complete": False, "combos": combos, "runs": done_runs, "claims": rows,
                  "notes": []}
        write_atomically(out, json.dumps(result, indent=1) + "\n")
        report(result, out)
        return 0
    if journal.is_file():
        if not args.resume:
            parser.error(f"{journal} holds an interrupted survey: add --resume to go on with "
                         f"it, or delete it to start again")
        old_plan, done_runs, entries = read_journal(journal)
        if old_plan != plan:
            parser.error(f"--resume: {journal} was another survey ({old_plan}); run that one "
                         f"again or delete the journal")
        # rewritten without a run cut off midway (its claims would join the next run's)
        lines = [{"plan": plan}]
        for run in done_runs:
            key = (run["chapter"], run["seed"], run["combo"])
            lines += [e for e in entries if (e["chapter"], e["seed"], e["combo"]) == key]
            lines.append({"run": run})
        write_atomically(journal, "".join(json.dumps(x) + "\n" for x in lines))
        print(f"resuming: {len(done_runs)} runs already done ({journal})", flush=True)
    else:
        write_atomically(journal, json.dumps({"plan": plan}) + "\n")
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)

    finished = {(r["chapter"], r["seed"], r["combo"]) for r in done_runs}
    runs = list(done_runs)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _install_handlers()
    _state["stop"] = False
    try:
        # Seed by seed, every combination, every chapter: a survey stopped early has whole
        # seeds of every chapter in its journal.
        for seed in args.seeds:
            for combo in combos:
                for name in names:
                    if (name, seed, combo["id"]) in finished:
                        continue
                    if _state["stop"]:
                        raise Interrupted
                    start = journal.stat().st_size
                    started = time.perf_counter()
                    kept = keep / f"{name}-s{seed}-{combo['id']}.ipynb" if keep else None
                    error = run_chapter(name, seed, budget, journal, args.timeout, kept, combo)
                    seconds = time.perf_counter() - started
                    with journal.open("rb") as f:
                        f.seek(start)
                        seen = [json.loads(line) for line in f.read().decode().splitlines()
                                if line.strip()]
                    run = {"chapter": name, "seed": seed, "combo": combo["id"],
                           "seconds": round(seconds, 1), "claims": len(seen), "error": error}
                    with journal.open("a", encoding="utf-8") as f:
                        f.write(json.dumps({"run": run}) + "\n")
                    runs.append(run)
                    entries += [dict(e, combo=combo["id"], seed=seed) for e in seen]
                    print(f"{name} seed {seed} {combo['id']}: {len(seen)} claim checks, "
                          f"{seconds:.0f} s" + (f", FAILED: {error}" if error else ""),
                          flush=True)
    except (Interrupted, KeyboardInterrupt):
        print(f"claims.py: interrupted; {len(runs)} finished runs kept in {journal} "
              f"(--resume goes on from there); {out} is unchanged", file=sys.stderr, flush=True)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    rows = summarise(entries)
    if last is not None:  # keep the other chapters' rows from the last survey
        runs = [r for r in last["runs"] if r["chapter"] not in names] + runs
        rows = [r for r in last["claims"] if r["chapter"] not in names] + rows
    runs, rows = order_rows(runs, rows)
    result = {"format": FORMAT, "budget": budget, "seeds": args.seeds,
              "date": time.strftime("%Y-%m-%d"), "machine": machine_info(), "complete": True,
              "combos": combos, "runs": runs, "claims": rows,
              "notes": last.get("notes", []) if last else []}
    write_atomically(out, json.dumps(result, indent=1) + "\n")
    journal.unlink()
    report(result, out)
    return 1 if any(r["error"] for r in runs) else 0


def report(result: dict, out: Path) -> None:
    """Print what did not hold: per claim, the combinations and seeds where it failed."""
    rows = result["claims"]
    weak = [r for r in rows if r["held"] < r["runs"]]
    print(f"{len(rows)} claims over {len(result['runs'])} runs "
          f"({len(result['combos'])} combinations, seeds {result['seeds']}) -> {out}; "
          f"{len(weak)} did not hold on every run")
    for r in weak:
        where = [f"{c} ({r['by_combo'][c]['held']}/{r['by_combo'][c]['runs']})"
                 for c in r["by_combo"] if r["by_combo"][c]["held"] < r["by_combo"][c]["runs"]]
        print(f"  {r['chapter']}: {r['name']} held {r['held']}/{r['runs']}: {', '.join(where)}")
    for run in result["runs"]:
        if run["error"]:
            print(f"  FAILED run: {run['chapter']} seed {run['seed']} {run.get('combo')}: "
                  f"{run['error']}")


if __name__ == "__main__":
    sys.exit(main())
