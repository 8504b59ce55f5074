"""Build the HTML book with warnings as errors, keeping the execution cache honest.

jupyter-cache keys a notebook's outputs on the notebook's code alone, and Sphinx
re-reads only pages whose own files changed. A page also shows what its code
reads: the ``cnncourse`` package (code and data files, the recorded GPU runs
included; and which copy of it the kernels import), the benchmark results the LeNet
page reads, the Python and the installed PyTorch, torchvision, NumPy, Matplotlib
and Pillow, the Fashion-MNIST files (by content) and the run budget.
(The claims page names the survey it shows in its own code: bookfactory/claims.py.)
This script writes all of those down (names, contents' hashes, versions, sizes
and times) next to the build; when any differs from the last build it
says what changed, clears the execution cache and re-reads every page.

Sphinx also keeps, unread, a page that failed (an execution error or another
warning under ``-W --keep-going``) if its source did not change, so the build
after a failed one re-reads every page; the notebooks that did execute come
from the cache. Failed chapters leave their traceback in
``_build/html/reports/chapters/NAME.err.log`` (emptied at the start of each build).

    python -m bookfactory build                 # budget: CNNCOURSE_BUDGET, else the hardware's
    python -m bookfactory build --budget smoke --out _build/smoke
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the pages' code reads, besides the pages themselves (relative to ROOT): the package,
# recorded results included (cnncourse/results/: the GPU runs, benchmarks and claims surveys
# the pages show), so a new record re-executes the pages, as an edit to the code does.
READ_FOLDERS = ("cnncourse",)
# Installed packages whose version changes what the pages compute or draw.
VERSIONS = ("torch", "torchvision", "numpy", "matplotlib", "pillow")
STAMP = ".cnncourse-stamp"


def _files(folder: Path) -> dict[str, str]:
    """``{path relative to ROOT: sha256}`` of every file under ``folder`` (no bytecode)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            found[path.relative_to(ROOT).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _data_files() -> dict[str, list]:
    """The Fashion-MNIST files a chapter's kernel finds (it runs in chapters/): size and content.

    By content (a hash), not by modification time: a file rewritten with its time kept, or
    copied in with another time, is what it holds.
    """
    from cnncourse.data import DataNotFoundError, find_fashion_mnist

    here = os.getcwd()
    try:
        if (ROOT / "chapters").is_dir():
            os.chdir(ROOT / "chapters")
        found = find_fashion_mnist(download=False)
    except DataNotFoundError:
        return {}
    finally:
        os.chdir(here)
    files = [Path(p).resolve() for pair in found.values() for p in pair]
    return {str(p): [p.stat().st_size, _sha256(p)] for p in files}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _kernel_package() -> str:
    """Where the chapters' kernels import ``cnncourse`` from: this interpreter, in chapters/.

    A virtualenv shared by two checkouts has one editable install: the kernels may import
    the other checkout's package, and the book would show what that code computes.
    """
    where = ROOT / "chapters" if (ROOT / "chapters").is_dir() else ROOT
    found = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; s = u.find_spec('cnncourse'); "
         "print(s.origin if s else '')"], cwd=where, capture_output=True, text=True)
    origin = found.stdout.strip()
    return str(Path(origin).resolve().parent) if origin else ""


def build_inputs(budget: str) -> dict:
    """Everything besides the chapters themselves that the built pages depend on."""
    files: dict[str, str] = {}
    for folder in READ_FOLDERS:
        files.update(_files(ROOT / folder))
    versions = {"python": f"{platform.python_implementation()} {platform.python_version()}"}
    versions.update({name: _version(name) for name in VERSIONS})
    return {"budget": budget, "files": files, "versions": versions, "data": _data_files(),
            "package": _kernel_package()}


def changes(old: dict, new: dict) -> list[str]:
    """What differs between two ``build_inputs`` records, in words."""
    said = []
    if old.get("budget") != new["budget"]:
        said.append(f"budget {old.get('budget')} -> {new['budget']}")
    old_files = old.get("files", {})
    for name in sorted(set(old_files) | set(new["files"])):
        if old_files.get(name) != new["files"].get(name):
            state = ("new" if name not in old_files else
                     "removed" if name not in new["files"] else "changed")
            said.append(f"{name} {state}")
    for name, version in new["versions"].items():
        if old.get("versions", {}).get(name) != version:
            said.append(f"{name} {old.get('versions', {}).get(name)} -> {version}")
    if old.get("data") != new["data"]:
        said.append("the Fashion-MNIST files changed")
    if old.get("package") != new.get("package"):
        said.append(f"the kernels' cnncourse {old.get('package')} -> {new.get('package')}")
    return said


def _write_stamp(stamp_file: Path, inputs: dict, succeeded: bool) -> None:
    stamp_file.write_text(json.dumps(dict(inputs, succeeded=succeeded), indent=1,
                                     sort_keys=True) + "\n")


def _last_inputs(stamp_file: Path) -> dict | None:
    try:
        last = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        return None
    return last if isinstance(last, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default=None,
                        help="smoke, cpu or full (default: CNNCOURSE_BUDGET, else full with "
                             "CUDA and cpu without)")
    parser.add_argument("--out", default="", help="output folder (default: the repository root)")
    args = parser.parse_args(argv)

    try:
        from cnncourse.budget import BudgetError, resolve_budget
    except ImportError as err:
        parser.error(f"{err}: run `make book` (it sets up the environment), or `pip install -e .` "
                     "in the environment you build with")
    try:
        name = resolve_budget(args.budget).name
    except BudgetError as err:
        parser.error(str(err))
    env = dict(os.environ, CNNCOURSE_BUDGET=name)  # for the notebooks' kernels only
    out = (ROOT / args.out) if args.out else ROOT
    build = out / "_build"
    stamp_file, cache = build / STAMP, build / ".jupyter_cache"
    inputs = build_inputs(name)
    if Path(inputs["package"] or "/nonexistent") != (ROOT / "cnncourse").resolve():
        print(f"build_book: the chapters' kernels would import cnncourse from "
              f"{inputs['package'] or 'nowhere'}, not from this checkout ({ROOT / 'cnncourse'}): "
              f"the book would show another copy's results. Install this one: "
              f"`{sys.executable} -m pip install --no-deps -e {ROOT}` (make book does).",
              file=sys.stderr)
        return 2
    last = _last_inputs(stamp_file)
    said = ["no record of the last build"] if last is None else changes(last, inputs)
    if said:
        shown = "; ".join(said[:8]) + (f"; and {len(said) - 8} more" if len(said) > 8 else "")
        print(f"executing every page again ({shown})", flush=True)
        if cache.exists():
            shutil.rmtree(cache)
    elif not last.get("succeeded", False):
        print("reading every page again: the last build did not succeed", flush=True)
    reread = bool(said) or not last.get("succeeded", False)
    shutil.rmtree(build / "html" / "reports", ignore_errors=True)
    build.mkdir(parents=True, exist_ok=True)
    _write_stamp(stamp_file, inputs, succeeded=False)  # until it has: an interrupted build
    # the jupyter-book of this interpreter's environment, even when its bin/ is not on the PATH
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    cmd = [jb, "build", str(ROOT), "-W", "-n", "--keep-going"]
    if args.out:
        cmd += ["--path-output", str(out)]
    if reread:
        # Sphinx re-reads only pages whose own files changed; a page that merely imports
        # cnncourse would keep its old outputs, so read (and execute) every page again.
        cmd += ["--all"]
    print(f"budget: {name}; running: {' '.join(cmd)}", flush=True)
    rc = subprocess.call(cmd, env=env, cwd=ROOT)
    if rc == 0:
        print(f"book: {build / 'html' / 'index.html'}")
        # The 简体中文 edition (bookfactory.i18n) at html/zh_CN/: the same pages translated, their
        # outputs from the execution cache this build just filled, so nothing runs again.
        zh = [sys.executable, "-m", "bookfactory", "i18n", "build", "--out", str(out)]
        started = time.perf_counter()
        rc = subprocess.call(zh + (["--all"] if reread else []), env=env, cwd=ROOT)
        print(f"简体中文 edition: {time.perf_counter() - started:.0f} s", flush=True)
    _write_stamp(stamp_file, inputs, succeeded=rc == 0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
