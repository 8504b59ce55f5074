"""bookfactory.build_book: what the pages read changes -> cache cleared, every page read again."""
from __future__ import annotations

import os

import pytest

import build_book


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A stand-in repository; ``run()`` builds it (jupyter-book replaced), returns the command."""
    (tmp_path / "cnncourse").mkdir()
    (tmp_path / "cnncourse" / "a.py").write_text("x = 1\n")
    cache = tmp_path / "_build" / ".jupyter_cache"
    calls, exit_codes = [], []
    monkeypatch.setattr(build_book, "ROOT", tmp_path)
    monkeypatch.setattr(build_book, "_data_files", lambda: {"/data/train-images": [10, "ab"]})
    monkeypatch.setattr(build_book, "_kernel_package", lambda: str(tmp_path / "cnncourse"))
    monkeypatch.setattr(build_book.subprocess, "call",
                        lambda cmd, **kw: calls.append(cmd) or (exit_codes or [0]).pop())
    monkeypatch.delenv("CNNCOURSE_BUDGET", raising=False)

    def run(*argv: str, rc: int = 0) -> list[str]:
        cache.mkdir(parents=True, exist_ok=True)  # as if the last build had executed pages
        exit_codes[:] = [rc]
        assert build_book.main(["--budget", "smoke", *argv]) == rc
        return calls[-1]

    run.cache = cache
    return run


def rebuilt(cmd: list[str], book) -> bool:
    """Whether a build re-read every page with an empty execution cache."""
    return "--all" in cmd and not book.cache.exists()


def test_nothing_changed_builds_incrementally(book):
    assert rebuilt(book(), book)  # no record of a last build
    assert not rebuilt(book(), book)
    assert book.cache.exists()


def test_an_edit_to_the_package_is_noticed(book, tmp_path):
    book()
    (tmp_path / "cnncourse" / "a.py").write_text("x = 2\n")
    assert rebuilt(book(), book)


def test_package_data_and_a_new_recorded_run_are_noticed(book, tmp_path, capsys):
    book()
    (tmp_path / "cnncourse" / "results").mkdir()
    (tmp_path / "cnncourse" / "results" / "lenet.json").write_text("{}")  # not .py
    capsys.readouterr()
    assert rebuilt(book(), book)
    assert "cnncourse/results/lenet.json new" in capsys.readouterr().out
    # a claims survey is a recorded result like any other: one folder, one key
    (tmp_path / "cnncourse" / "results" / "claims-cpu.json").write_text("{}")
    assert rebuilt(book(), book)
    assert "cnncourse/results/claims-cpu.json new" in capsys.readouterr().out


def test_another_pytorch_or_other_data_files_are_noticed(book, monkeypatch, capsys):
    book()
    real = build_book._version
    monkeypatch.setattr(build_book, "_version",
                        lambda name: "9.9" if name == "torch" else real(name))
    assert rebuilt(book(), book)
    assert "torch " in capsys.readouterr().out
    monkeypatch.setattr(build_book, "_data_files", lambda: {"/data/train-images": [10, "cd"]})
    assert rebuilt(book(), book)
    assert "Fashion-MNIST" in capsys.readouterr().out
    monkeypatch.setattr(build_book.platform, "python_version", lambda: "3.13.0")
    book()
    monkeypatch.setattr(build_book.platform, "python_version", lambda: "3.13.1")
    assert rebuilt(book(), book)  # another Python
    assert "python CPython 3.13.0 -> CPython 3.13.1" in capsys.readouterr().out
    monkeypatch.setattr(build_book, "_version", lambda name: "1.0" if name == "pillow"
                        else real(name))
    assert rebuilt(book(), book)  # another Pillow (images are decoded and drawn with it)
    assert "pillow" in capsys.readouterr().out


def test_the_benchmark_results_the_lenet_page_reads_are_noticed(book, tmp_path, capsys):
    results = tmp_path / "cnncourse" / "results"
    results.mkdir(parents=True)
    (results / "lenet-cpu.json").write_text('{"summary": 1}')
    book()
    (results / "lenet-cpu.json").write_text('{"summary": 2}')
    capsys.readouterr()
    assert rebuilt(book(), book)
    assert "cnncourse/results/lenet-cpu.json changed" in capsys.readouterr().out


def test_the_kernels_must_import_this_checkouts_package(book, monkeypatch, tmp_path, capsys):
    book()
    monkeypatch.setattr(build_book, "_kernel_package", lambda: "/other/clone/cnncourse")
    with pytest.raises(AssertionError):
        book()  # refused: rc 2
    err = capsys.readouterr().err
    assert "import cnncourse from /other/clone/cnncourse, not from this checkout" in err
    assert "pip install --no-deps -e" in err


def test_a_data_file_is_known_by_its_content_not_its_time(tmp_path, monkeypatch):
    from conftest import make_fake_copy

    folder = make_fake_copy(tmp_path / "fmnist")
    monkeypatch.setenv("CNNCOURSE_DATA", str(folder))
    before = build_book._data_files()
    assert before and all(len(v) == 2 for v in before.values())
    victim = sorted(folder.iterdir())[0]
    stat = victim.stat()
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF  # same size
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same time
    assert build_book._data_files() != before


def test_another_budget_is_noticed_and_the_environment_untouched(book):
    before = os.environ.get("CNNCOURSE_BUDGET")
    book()
    assert rebuilt(book("--budget", "cpu"), book)  # the later --budget wins
    assert os.environ.get("CNNCOURSE_BUDGET") == before


def test_after_a_failed_build_every_page_is_read_again_from_the_cache(book, tmp_path):
    book()
    report = tmp_path / "_build" / "html" / "reports" / "chapters" / "lenet.err.log"
    report.parent.mkdir(parents=True)
    report.write_text("AssertionError")  # left by a failed chapter
    cmd = book(rc=1)  # e.g. a chapter failed: Sphinx would keep that page unread next time
    assert not report.exists(), "an old failure report outlives the build"
    cmd = book()
    assert "--all" in cmd and book.cache.exists()  # re-read, executed pages reused
    assert not rebuilt(book(), book)


def test_a_stamp_from_an_older_build_tool_counts_as_stale(book, tmp_path):
    book()
    (tmp_path / "_build" / build_book.STAMP).write_text("0123abcd")  # the old hash-only stamp
    assert rebuilt(book(), book)


def test_a_bad_budget_names_where_it_came_from(monkeypatch, capsys):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "huge")
    with pytest.raises(SystemExit):
        build_book.main([])
    err = capsys.readouterr().err
    assert "CNNCOURSE_BUDGET='huge' is not a budget" in err and "--budget" not in err.split(
        "error:")[-1]
    with pytest.raises(SystemExit):
        build_book.main(["--budget", "tiny"])
    assert "--budget 'tiny' is not a budget" in capsys.readouterr().err


@pytest.mark.slow  # hashes the real data, asks an interpreter where cnncourse is
def test_the_real_inputs_cover_the_package_and_the_installed_pytorch():
    inputs = build_book.build_inputs("smoke")
    assert "cnncourse/budget.py" in inputs["files"]
    assert inputs["versions"]["torch"] != "not installed"
    assert inputs["versions"]["pillow"] != "not installed" and inputs["versions"]["python"]
    assert "cnncourse/results/lenet-cpu.json" in inputs["files"]
    assert "cnncourse/results/claims-cpu.json" in inputs["files"]
    assert inputs["package"] == str((build_book.ROOT / "cnncourse").resolve())
