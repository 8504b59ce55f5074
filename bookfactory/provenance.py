"""Where a recorded result came from: the commit of the checkout that produced it.

Results files (the benchmarks, the AlexNet GPU record, gpu-check's summary) carry the
commit, so a page that shows a number it did not compute itself can say which code made it.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["git_commit"]

REPOSITORY = Path(__file__).resolve().parents[1]


def git_commit(root: str | Path = REPOSITORY, mark_changes: bool = False) -> str | None:
    """The checkout's short commit hash, or None outside a git checkout (e.g. a pip install).

    With ``mark_changes``, ``'+changes'`` is appended when tracked files differ from it.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head and mark_changes and git("status", "--porcelain", "--untracked-files=no"):
            head += "+changes"
    except (OSError, subprocess.SubprocessError):
        return None
    return head or None
