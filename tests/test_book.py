"""The book builds with warnings as errors (execution errors included), in the smoke budget."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_book_builds_without_warnings():
    out = ROOT / "_build" / "test-smoke"
    proc = subprocess.run([sys.executable, "tools/build_book.py", "--budget", "smoke",
                           "--out", str(out.relative_to(ROOT))], cwd=ROOT,
                          capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    # The kernels talk to the build over IPC (tools/kernel_ipc.py), so ipykernel has no cause to
    # print its TCP warning once per chapter.
    assert "without encryption" not in log, "a kernel ran over TCP: is kernel_ipc in _config.yml?"
    html = out / "_build" / "html"
    for page in ["index.html", "book/intro.html"]:
        assert (html / page).exists() or (html / page.replace("book/", "")).exists(), page
    # MathJax is served by the book itself, not from a CDN (readers offline see formulas).
    intro = next(p for p in [html / "book" / "intro.html", html / "index.html"] if p.exists())
    assert "cdn.jsdelivr" not in (html / "chapters" / "data.html").read_text()
    assert (html / "_static" / "mathjax").is_dir()
