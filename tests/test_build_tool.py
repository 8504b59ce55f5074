"""tools/build_book.py: a change to cnncourse/ or the budget clears the cache and rebuilds all pages."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402


def test_stale_outputs_are_rebuilt_and_fresh_ones_kept(tmp_path, monkeypatch):
    (tmp_path / "cnncourse").mkdir()
    (tmp_path / "cnncourse" / "a.py").write_text("x = 1\n")
    cache = tmp_path / "_build" / ".jupyter_cache"
    cache.mkdir(parents=True)
    (tmp_path / "_build" / ".cnncourse-stamp").write_text("an older package")
    before = os.environ.get("CNNCOURSE_BUDGET")
    calls = []
    monkeypatch.setattr(build_book, "ROOT", tmp_path)
    monkeypatch.setattr(build_book.subprocess, "call", lambda cmd, **kw: calls.append(cmd) or 0)

    assert build_book.main(["--budget", "smoke"]) == 0
    assert "--all" in calls[-1] and not cache.exists()
    assert (tmp_path / "_build" / ".cnncourse-stamp").read_text() == \
        build_book.package_stamp("smoke")

    cache.mkdir()
    assert build_book.main(["--budget", "smoke"]) == 0  # nothing changed: incremental
    assert "--all" not in calls[-1] and cache.exists()

    (tmp_path / "cnncourse" / "a.py").write_text("x = 2\n")  # package edited
    assert build_book.main(["--budget", "smoke"]) == 0
    assert "--all" in calls[-1] and not cache.exists()

    build_book.main(["--budget", "smoke"])
    assert build_book.main(["--budget", "cpu"]) == 0  # budget changed
    assert "--all" in calls[-1]
    assert os.environ.get("CNNCOURSE_BUDGET") == before, "the caller's environment is untouched"
