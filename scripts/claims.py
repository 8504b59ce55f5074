"""How robust is each claim? Run every chapter over several seeds and record what its claims saw.

    python scripts/claims.py                          # cpu budget, seeds 0-4, every chapter
    python scripts/claims.py --budget smoke --seeds 0 1 --chapters conv_pool
    python scripts/claims.py --chapters lenet --update   # redo one chapter, keep the others

Each chapter guards the sentences that state a result with ``cnncourse.claim(name,
value, above=..., below=...)``. This script executes the chapter (its MyST source, in
``chapters/``) once per seed with ``CNNCOURSE_SEED`` set, so every experiment the chapter
seeds from ``run_seed()`` starts elsewhere, and with ``CNNCOURSE_CLAIMS`` set, so each
claim writes down its value instead of stopping the run. The result, per claim: the value
for every seed, min / median / max, how many seeds held, and the margin of the worst seed
to the bound. The appendix page ``book/claims.md`` shows ``book/results/claims-cpu.json``.

It is a benchmark, not a test: the cpu survey of every chapter over five seeds takes
about five times a cpu book build. The test suite runs it at smoke size on one chapter.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
RESULTS = ROOT / "book" / "results"
PAGE = ROOT / "book" / "claims.md"
STAMP = "# surveys shown: "  # a line of the page's code cell


def stamp_page(page: Path = PAGE, results: Path = RESULTS) -> str:
    """Name the survey files' contents in the page's code; return the line.

    The book's execution cache keys a page on its code alone, so a new survey would leave
    the page showing the old table. With the files' hashes in its code, the page (and no
    other) executes again at the next book build.
    """
    import hashlib

    found = [f"{f.stem} {hashlib.sha256(f.read_bytes()).hexdigest()[:12]}"
             for f in sorted(results.glob("claims-*.json"))]
    line = STAMP + (", ".join(found) or "none yet")
    text = page.read_text()
    if STAMP not in text:
        raise ValueError(f"{page} has no line starting with {STAMP.strip()!r} in its code")
    page.write_text(re.sub(rf"^{re.escape(STAMP)}.*$", line, text, count=1, flags=re.M))
    return line


def chapters_in_toc() -> list[str]:
    """The chapters of ``_toc.yml``, in reading order."""
    names = []
    for line in (ROOT / "_toc.yml").read_text().splitlines():
        line = line.strip()
        if line.startswith("- file: chapters/"):
            names.append(line.split("chapters/", 1)[1].strip())
    return names


def run_chapter(name: str, seed: int, budget: str, record: Path, timeout: int,
                keep: Path | None = None) -> str | None:
    """Execute ``chapters/NAME.md`` with the seed; the claims go to ``record``. Error or None.

    ``keep``: where to save the executed notebook (to compare its outputs with another run).
    """
    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(CHAPTERS / f"{name}.md")
    env = {"CNNCOURSE_BUDGET": budget, "CNNCOURSE_SEED": str(seed),
           "CNNCOURSE_CLAIMS": str(record), "CNNCOURSE_CHAPTER": name}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(CHAPTERS)}}).execute()
    except Exception as err:  # noqa: BLE001 -- a failed chapter is a result, not a crash
        text = str(err).strip()
        return f"{type(err).__name__}: {text.splitlines()[-1][:300] if text else ''}"
    finally:
        if keep is not None:
            nbformat.write(nb, keep)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return None


def summarise(entries: list[dict], seeds: list[int]) -> list[dict]:
    """One row per claim: values by seed, min/median/max, seeds held, worst margin."""
    rows: dict[tuple[str, str], dict] = {}
    for e in entries:
        key = (e["chapter"], e["name"])
        row = rows.setdefault(key, {"chapter": e["chapter"], "name": e["name"], "says": e["says"],
                                    "above": e["above"], "below": e["below"], "values": {}})
        # a claim checked more than once in a run (in a loop) keeps its worst value
        value, old = e["value"], row["values"].get(str(e["seed"]))
        if old is not None:
            value = min(value, old) if e["above"] is not None else max(value, old)
        row["values"][str(e["seed"])] = value
    out = []
    for row in rows.values():
        values = list(row["values"].values())
        margins = []
        for v in values:
            m = []
            if row["above"] is not None:
                m.append(v - row["above"])
            if row["below"] is not None:
                m.append(row["below"] - v)
            margins.append(min(m))
        row.update(seeds=len(values), min=min(values), median=statistics.median(values),
                   max=max(values), held=sum(m > 0 for m in margins), margin=min(margins))
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    from cnncourse.budget import resolve_budget  # installed package; chosen like every program

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default=None, help="smoke, cpu or full (default: as the book)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--chapters", nargs="+", default=None, help="default: all, in toc order")
    parser.add_argument("--out", default=None,
                        help="results file (default: book/results/claims-BUDGET.json)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--keep", default=None,
                        help="folder for the executed notebooks (NAME-sSEED.ipynb)")
    parser.add_argument("--update", action="store_true",
                        help="replace only these chapters' results in an existing results file")
    args = parser.parse_args(argv)
    budget = resolve_budget(args.budget).name
    names = args.chapters or chapters_in_toc()
    unknown = [n for n in names if not (CHAPTERS / f"{n}.md").is_file()]
    if unknown:
        parser.error(f"no chapter {', '.join(unknown)} in chapters/; "
                     f"choose from {', '.join(chapters_in_toc())}")
    out = Path(args.out) if args.out else ROOT / "book" / "results" / f"claims-{budget}.json"

    import torch

    machine = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available()
               else f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
               "torch": torch.__version__, "python": platform.python_version()}
    last = None
    if args.update and out.is_file():
        last = json.loads(out.read_text())
        if last.get("budget") != budget or last.get("seeds") != args.seeds:
            parser.error(f"--update: {out} holds budget {last.get('budget')}, seeds "
                         f"{last.get('seeds')}; survey the same or drop --update")
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)

    def write(entries: list[dict], runs: list[dict], complete: bool) -> list[dict]:
        rows = summarise(entries, args.seeds)
        if last is not None:  # keep the other chapters' rows from the last survey
            runs = [r for r in last["runs"] if r["chapter"] not in names] + runs
            rows = [r for r in last["claims"] if r["chapter"] not in names] + rows
        order = {name: i for i, name in enumerate(chapters_in_toc())}
        runs = sorted(runs, key=lambda r: (order.get(r["chapter"], len(order)), r["seed"]))
        rows.sort(key=lambda r: order.get(r["chapter"], len(order)))  # stable: chapter order
        result = {"budget": budget, "seeds": args.seeds, "date": time.strftime("%Y-%m-%d"),
                  "machine": machine, "complete": complete, "runs": runs, "claims": rows}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        return rows

    # Seed by seed, every chapter, the file rewritten after each run: a survey stopped early
    # still holds whole seeds of every chapter.
    entries, runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name in names:
                record = Path(tmp) / f"{name}-{seed}.jsonl"
                record.touch()
                started = time.perf_counter()
                kept = keep / f"{name}-s{seed}.ipynb" if keep else None
                error = run_chapter(name, seed, budget, record, args.timeout, kept)
                seconds = time.perf_counter() - started
                seen = [json.loads(line) for line in record.read_text().splitlines() if line]
                entries += seen
                runs.append({"chapter": name, "seed": seed, "seconds": round(seconds, 1),
                             "claims": len(seen), "error": error})
                print(f"{name} seed {seed}: {len(seen)} claim checks, {seconds:.0f} s"
                      + (f", FAILED: {error}" if error else ""), flush=True)
                write(entries, runs, complete=False)
                if out.parent.resolve() == RESULTS.resolve():
                    stamp_page()  # a survey stopped early is shown as far as it got
    rows = write(entries, runs, complete=True)
    if out.parent.resolve() == RESULTS.resolve():
        print(stamp_page())
    weak = [r for r in rows if r["held"] < r["seeds"]]
    print(f"{len(rows)} claims over {len(args.seeds)} seeds -> {out}; "
          f"{len(weak)} did not hold on every seed" + "".join(
              f"\n  {r['chapter']}: {r['name']} held {r['held']}/{r['seeds']}" for r in weak))
    return 1 if any(r["error"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
