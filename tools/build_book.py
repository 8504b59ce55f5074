"""Build the HTML book with warnings as errors, keeping the execution cache honest.

jupyter-cache keys a notebook's outputs on the notebook alone, and Sphinx
re-reads only pages whose own files changed, so an edit to ``cnncourse/`` or a
change of run budget would silently keep stale outputs. This script stamps the
build with a hash of the package and the budget; when either changes it clears
the execution cache and rebuilds every page.

    python tools/build_book.py                 # budget from the hardware -> _build/html
    python tools/build_book.py --budget smoke --out _build/smoke
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_stamp(budget: str) -> str:
    h = hashlib.sha256(budget.encode())
    for path in sorted((ROOT / "cnncourse").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default=os.environ.get("CNNCOURSE_BUDGET", ""),
                        help="smoke, cpu or full (default: CNNCOURSE_BUDGET, else from the hardware)")
    parser.add_argument("--out", default="", help="output folder (default: the repository root)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from cnncourse.budget import BUDGETS, budget

    name = args.budget.strip().lower() or budget().name
    if name not in BUDGETS:
        parser.error(f"--budget {args.budget!r}: use one of {', '.join(BUDGETS)}")
    env = dict(os.environ, CNNCOURSE_BUDGET=name)  # for the notebooks' kernels only
    out = (ROOT / args.out) if args.out else ROOT
    build = out / "_build"
    stamp_file, cache = build / ".cnncourse-stamp", build / ".jupyter_cache"
    stamp = package_stamp(name)
    stale = not stamp_file.exists() or stamp_file.read_text() != stamp
    if stale and cache.exists():
        print(f"cnncourse/ or the budget changed: clearing the execution cache {cache}")
        shutil.rmtree(cache)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    cmd = ["jupyter-book", "build", str(ROOT), "-W", "-n", "--keep-going"]
    if args.out:
        cmd += ["--path-output", str(out)]
    if stale:
        # Sphinx re-reads only pages whose own files changed; a page that merely imports
        # cnncourse would keep its old outputs, so read (and execute) every page again.
        cmd += ["--all"]
    print(f"budget: {name}; running: {' '.join(cmd)}", flush=True)
    rc = subprocess.call(cmd, env=env, cwd=ROOT)
    if rc == 0:
        build.mkdir(parents=True, exist_ok=True)
        stamp_file.write_text(stamp)
        print(f"book: {build / 'html' / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
