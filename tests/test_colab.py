"""A chapter on a machine without a checkout, as Colab runs it -- offline.

A fresh virtualenv sees the packages of the environment running the tests --
PyTorch, ipykernel, ... as Colab's machine has them preinstalled -- through a
``.pth`` file listing that environment's site-packages, but not ``cnncourse``
(a ``.pth`` path line does not run the editable install's finder, a
``sitecustomize`` hides a PYTHONPATH copy, and the kernel asserts that the
package is gone); a stub ``google.colab`` is imported at
kernel start, as on Colab; the repository is served from a local git URL in
place of the public one; pip runs with ``--no-index``, so anything it would
fetch besides cnncourse fails the test. Then the notebook runs top to bottom
in the ``smoke`` budget: its setup cell installs the package, and every later
cell uses what was installed.

Also here: the package metadata that lets the setup cell keep Colab's own
PyTorch, the one-line setup report, and the MD5-checked download.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest
import torch

import cnncourse.colab
import sync_notebooks
from cnncourse.data import DataFileError, DataNotFoundError, _md5, download_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]

CHAPTER = "data"  # the quickest chapter in the smoke budget (about 20 s on 2 cores)
COLAB_PACKAGES = {"torch", "torchvision", "matplotlib", "numpy", "tqdm"}  # all on stock Colab
DEBIAN = Path("/usr/share/datasets/fashion-mnist")

# Hides every cnncourse that is not installed in the virtualenv itself.
HIDE = '''\
import os, sys
_venv = os.path.realpath(sys.prefix)
sys.meta_path[:] = [f for f in sys.meta_path
                    if not getattr(type(f), "__module__", "").startswith("__editable__")
                    and not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks
                     if not getattr(h, "__module__", "").startswith("__editable__")]
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".").startswith(_venv)
               or not os.path.exists(os.path.join(p or ".", "cnncourse"))]
sys.path_importer_cache.clear()
'''

FIRST_CELL = '''\
import importlib.util, sys
assert "google.colab" in sys.modules, "the google.colab stub was not imported at start"
assert importlib.util.find_spec("cnncourse") is None, "cnncourse is importable before setup"
'''

AFTER_SETUP = '''\
import os, sys, cnncourse, torch
inside = lambda path: os.path.realpath(path).startswith(os.path.realpath(sys.prefix))
assert inside(cnncourse.__file__), cnncourse.__file__  # installed by the setup cell
assert not inside(torch.__file__), torch.__file__      # the machine's own PyTorch
'''


# ------------------------------------------------------------------ packaging
def _project() -> dict:
    """``[project]`` of pyproject.toml (tomllib is 3.11+, the package supports 3.10)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_dependencies_are_lower_bounds_of_what_colab_ships():
    """So the setup cell's ``pip install`` finds them satisfied and replaces nothing."""
    deps = _project()["dependencies"]
    for dep in deps:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0).lower()
        assert name in COLAB_PACKAGES, f"{dep}: not preinstalled on Colab; keep the cell light"
        assert not re.search(r"==|<|~=|!=|@", dep), f"{dep}: only lower bounds on Colab's copy"


def test_readme_and_pyproject_state_the_same_python():
    requires = _project()["requires-python"]
    minimum = re.fullmatch(r">=\s*(3\.\d+)", requires).group(1)
    readme = (ROOT / "README.md").read_text()
    stated = set(re.findall(r"Python\s*(?:≥|>=)\s*(3\.\d+)", readme))
    assert stated == {minimum}, f"README says Python {stated}, pyproject.toml {requires}"
    assert sys.version_info >= tuple(int(x) for x in minimum.split("."))


# ------------------------------------------------------------- the setup report
def test_report_without_a_gpu_says_how_to_switch(monkeypatch):
    monkeypatch.setattr(cnncourse.colab, "try_gpu", lambda: torch.device("cpu"))
    monkeypatch.setattr(cnncourse.colab, "find_fashion_mnist",
                        lambda download: {"train": (Path("/data/x-images.gz"), None)})
    line = cnncourse.colab.prepare()
    assert "\n" not in line and "Fashion-MNIST found in /data" in line
    assert "no GPU" in line and "Runtime → Change runtime type → GPU" in line


def test_report_with_a_gpu_names_it(monkeypatch):
    monkeypatch.setattr(cnncourse.colab, "try_gpu", lambda: torch.device("cuda:0"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d: "Tesla T4")
    monkeypatch.setattr(cnncourse.colab, "find_fashion_mnist",
                        lambda download: {"train": (Path("/data/x-images.gz"), None)})
    line = cnncourse.colab.prepare()
    assert "training on cuda:0 (Tesla T4)" in line and "no GPU" not in line


def test_report_downloads_when_no_copy_is_found(monkeypatch, tmp_path):
    def nothing(download):
        raise DataNotFoundError("none")
    fetched = []
    monkeypatch.setattr(cnncourse.colab, "find_fashion_mnist", nothing)
    monkeypatch.setattr(cnncourse.colab, "download_fashion_mnist", fetched.append)
    monkeypatch.setattr(cnncourse.colab, "CACHE_DIR", tmp_path)
    assert f"downloaded to {tmp_path} (MD5 checked)" in cnncourse.colab.prepare()
    assert fetched == [tmp_path]


# ----------------------------------------------------------------- the download
needs_debian = pytest.mark.skipif(
    not DEBIAN.is_dir(), reason=f"serves {DEBIAN} as a mirror: apt-get install "
                                "dataset-fashion-mnist (make test does it as root) "
                                "enables this test")


@needs_debian
def test_download_checks_sums_and_falls_back_to_the_next_mirror(tmp_path):
    sums = {p.name: _md5(p) for p in DEBIAN.glob("*.gz")}
    mirrors = [(tmp_path / "empty").as_uri(), DEBIAN.as_uri()]
    paths = download_fashion_mnist(tmp_path / "cache", mirrors=mirrors, md5=sums, progress=False)
    assert sorted(p.name for p in paths) == sorted(sums)
    assert all(_md5(p) == sums[p.name] for p in paths)
    assert not list((tmp_path / "cache").glob("*.part"))
    # A second call keeps the checked files and fetches nothing (no mirror would answer).
    assert download_fashion_mnist(tmp_path / "cache", mirrors=[], md5=sums) == paths


@needs_debian
def test_a_damaged_download_is_deleted_and_named(tmp_path):
    sums = {"t10k-labels-idx1-ubyte.gz": "0" * 32}
    damaged = r"t10k-labels.*MD5 \w+ differs from the published 0"
    with pytest.raises(DataNotFoundError, match=damaged):
        download_fashion_mnist(tmp_path, mirrors=[DEBIAN.as_uri()], md5=sums, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_the_published_sums_are_torchvision_s():
    from torchvision.datasets import FashionMNIST

    assert dict(FashionMNIST.resources) == cnncourse.data.FASHION_MNIST_MD5
    assert issubclass(DataFileError, ValueError)


# ------------------------------------------------------------- Colab, offline
def _snapshot_repository(dest: Path) -> str:
    """The working tree (tracked and new files) as a one-commit git repository: its URL."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], cwd=dest, check=True)
    # file://localhost/...: older pip (packaging < 22) rejects a URL without a host.
    return "file://localhost" + dest.as_posix()


def _installed_package_dirs() -> list[str]:
    """The site-packages of the interpreter running the tests: a virtualenv's or the system's.

    Not the base interpreter's (``--system-site-packages``): inside a virtualenv that one has
    neither PyTorch nor ipykernel.
    """
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if os.path.isdir(d)]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (apt-get install git)")
def test_a_chapter_runs_on_a_colab_like_machine(tmp_path):
    url = _snapshot_repository(tmp_path / "repo")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_dir = Path(subprocess.run([python, "-c", purelib], capture_output=True, text=True,
                                   check=True).stdout.strip())
    (site_dir / "machine.pth").write_text("\n".join(_installed_package_dirs()) + "\n")
    (site_dir / "sitecustomize.py").write_text(HIDE)
    (site_dir / "google" / "colab").mkdir(parents=True)
    (site_dir / "google" / "colab" / "__init__.py").write_text(
        '"""Stand-in for Colab\'s module."""\n')
    kernels = tmp_path / "jupyter" / "kernels" / "colab-like"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=import google.colab"],
        "display_name": "colab-like", "language": "python"}))

    nb = nbformat.read(ROOT / "chapters" / f"{CHAPTER}.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    public = "git+{}@{}".format(*sync_notebooks.repository())
    assert public in setup.source
    setup.source = setup.source.replace(public, f"git+{url}@main")
    at = nb.cells.index(setup)
    nb.cells[at:at + 1] = [nbformat.v4.new_code_cell(FIRST_CELL), setup,
                           nbformat.v4.new_code_cell(AFTER_SETUP)]
    work = tmp_path / "work"  # no checkout around the notebook
    work.mkdir()
    nb.metadata["kernelspec"] = {"name": "colab-like", "display_name": "colab-like",
                                 "language": "python"}
    nbformat.write(nb, work / "chapter.ipynb")

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(JUPYTER_PATH=str(tmp_path / "jupyter"), HOME=str(tmp_path / "home"),
               CNNCOURSE_BUDGET="smoke", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_BUILD_ISOLATION="0",  # pip's spelling of --no-build-isolation
               CUDA_VISIBLE_DEVICES="")  # a CPU runtime: the report must say how to switch
    execute = ("import nbclient, nbformat; nb = nbformat.read('chapter.ipynb', as_version=4); "
               "nbclient.NotebookClient(nb, timeout=600, kernel_name='colab-like', "
               "resources={'metadata': {'path': '.'}}).execute(); "
               "nbformat.write(nb, 'done.ipynb')")
    run = subprocess.run([sys.executable, "-c", execute], cwd=work, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]

    done = nbformat.read(work / "done.ipynb", as_version=4)
    code = [c for c in done.cells if c.cell_type == "code"]
    printed = "".join(o.get("text", "") for o in code[1].outputs if o.output_type == "stream")
    assert len(printed.strip().splitlines()) == 1, printed
    assert printed.startswith("cnncourse ") and "Fashion-MNIST" in printed
    assert "no GPU" in printed and "Runtime → Change runtime type → GPU" in printed
    installed = {p.name.split("-")[0].lower() for p in site_dir.glob("*.dist-info")}
    assert "cnncourse" in installed
    assert not installed & (COLAB_PACKAGES - {"cnncourse"}), f"pip replaced {installed}"
