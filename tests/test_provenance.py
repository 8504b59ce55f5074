"""bookfactory.provenance: results files name the commit that made them."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_git_commit_names_this_checkout_and_marks_changes(tmp_path):
    import subprocess

    from bookfactory.provenance import git_commit

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                          capture_output=True).stdout.strip()
    assert git_commit(ROOT) == head
    assert git_commit(tmp_path) is None  # not a checkout: None, not an error
    repo = tmp_path / "r"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)
    run("init", "-q")
    (repo / "f").write_text("1")
    run("add", "f")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = git_commit(repo, mark_changes=True)
    assert clean and "+" not in clean
    (repo / "f").write_text("2")
    assert git_commit(repo, mark_changes=True) == clean + "+changes"
    assert git_commit(repo) == clean
