"""Build the HTML book with warnings as errors, keeping the execution cache honest.

jupyter-cache keys a notebook's outputs on the notebook alone, so an edit to
``cnncourse/`` or a change of run budget would silently reuse stale outputs.
This script stamps the cache with a hash of the package and the budget and
clears it when either changes.

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
    env = dict(os.environ)
    if args.budget:
        env["CNNCOURSE_BUDGET"] = args.budget
    os.environ.update(env)
    from cnncourse.budget import budget  # validates the name

    name = budget().name
    out = (ROOT / args.out) if args.out else ROOT
    build = out / "_build"
    stamp_file, cache = build / ".cnncourse-stamp", build / ".jupyter_cache"
    stamp = package_stamp(name)
    if cache.exists() and (not stamp_file.exists() or stamp_file.read_text() != stamp):
        print(f"cnncourse/ or the budget changed: clearing the execution cache {cache}")
        shutil.rmtree(cache)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    cmd = ["jupyter-book", "build", str(ROOT), "-W", "-n", "--keep-going"]
    if args.out:
        cmd += ["--path-output", str(out)]
    print(f"budget: {name}; running: {' '.join(cmd)}", flush=True)
    rc = subprocess.call(cmd, env=env, cwd=ROOT)
    if rc == 0:
        build.mkdir(parents=True, exist_ok=True)
        stamp_file.write_text(stamp)
        print(f"book: {build / 'html' / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
