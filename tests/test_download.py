"""Downloads that overlap: two processes filling one cache folder, one of them killed midway.

A local HTTP server plays the mirror. It sends the first request half of the file and every
later one only the headers, then holds them all until the test releases them: both downloads
are certainly under way at once, and the second has written nothing when it is killed. What
each process has open is read from /proc, never guessed from timings.
"""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import cnncourse.colab
from cnncourse.data import ENV_VAR

NAME = "train-labels-idx1-ubyte.gz"
PAYLOAD = bytes((i * 7919 + i // 251) % 256 for i in range(512 * 1024))  # 512 KiB, not zeros
SUMS = {NAME: hashlib.md5(PAYLOAD).hexdigest()}

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")

DOWNLOAD = """
import json, sys
import cnncourse.data
from cnncourse.data import download_fashion_mnist
cnncourse.data.STALL_SECONDS = 300  # these servers hold a response on purpose, not stall
target, url, sums = json.loads(sys.argv[1])
download_fashion_mnist(target, mirrors=[url], md5=sums, progress=False)
print("done")
"""


class _Mirror(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _HalfThenWait)
        self.release = threading.Event()
        self.requests = 0
        self.lock = threading.Lock()


class _HalfThenWait(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.lstrip("/") != NAME:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        with self.server.lock:
            self.server.requests += 1
            first = self.server.requests == 1
        half = len(PAYLOAD) // 2 if first else 0
        try:
            self.wfile.write(PAYLOAD[:half])
            self.wfile.flush()
            self.server.release.wait(120)
            self.wfile.write(PAYLOAD[half:])
        except OSError:  # the client was killed
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror():
    server = _Mirror()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/"
    server.release.set()
    server.shutdown()
    server.server_close()


def _start(target: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DOWNLOAD, json.dumps([str(target), url, SUMS])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _open_in(pid: int, folder: Path) -> list[Path]:
    """The files under ``folder`` that process ``pid`` has open."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            path = Path(os.readlink(fd))
        except OSError:  # closed meanwhile
            continue
        if path.parent == folder:
            found.append(path)
    return found


def _wait_until(condition, what: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the download ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def _writing(proc: subprocess.Popen, folder: Path, min_bytes: int) -> bool:
    return any(p.exists() and p.stat().st_size >= min_bytes for p in _open_in(proc.pid, folder))


def _overlapping_downloads(target: Path, url: str) -> tuple[subprocess.Popen, subprocess.Popen]:
    """Start a download, and a second one into the same folder while the first is writing."""
    first = _start(target, url)
    _wait_until(lambda: _writing(first, target, 64 * 1024), "the first one wrote", first)
    second = _start(target, url)
    _wait_until(lambda: _open_in(second.pid, target), "the second one opened a file", second)
    return first, second


def test_two_downloads_into_one_folder_both_succeed(mirror, tmp_path):
    server, url = mirror
    target = tmp_path / "cache"
    first, second = _overlapping_downloads(target, url)
    server.release.set()
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "done", err[-2000:]
    assert (target / NAME).read_bytes() == PAYLOAD
    assert sorted(p.name for p in target.iterdir()) == [NAME]  # no temporary file left


def test_a_download_killed_midway_leaves_the_other_s_file_whole(mirror, tmp_path):
    server, url = mirror
    target = tmp_path / "cache"
    first, second = _overlapping_downloads(target, url)
    second.send_signal(signal.SIGKILL)  # no clean-up runs in the killed process
    second.communicate(timeout=60)
    server.release.set()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and out.strip() == "done", err[-2000:]
    published = (target / NAME).read_bytes()
    assert published == PAYLOAD, (f"{published.count(0)} zero bytes in the published file, "
                                  f"{PAYLOAD.count(0)} in the served one")


def test_a_failed_check_names_the_url_and_keeps_nothing(mirror, tmp_path):
    server, url = mirror
    server.release.set()
    target = tmp_path / "cache"
    from cnncourse.data import DataNotFoundError, download_fashion_mnist

    with pytest.raises(DataNotFoundError, match=rf"{NAME}.*MD5 \w+ differs from the published 0+"):
        download_fashion_mnist(target, mirrors=[url], md5={NAME: "0" * 32}, progress=False)
    assert list(target.iterdir()) == []


def test_colab_setup_downloads_into_cnncourse_data_when_set(monkeypatch, tmp_path):
    def nothing(download):
        raise cnncourse.data.DataNotFoundError("none")

    fetched = []
    monkeypatch.setattr(cnncourse.colab, "find_fashion_mnist", nothing)
    monkeypatch.setattr(cnncourse.colab, "download_fashion_mnist", fetched.append)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine"))
    assert f"downloaded to {tmp_path / 'mine'} (MD5 checked)" in cnncourse.colab.prepare()
    assert fetched == [tmp_path / "mine"]


def test_files_left_by_killed_downloads_are_removed_later(mirror, tmp_path):
    server, url = mirror
    server.release.set()
    target = tmp_path / "cache"
    target.mkdir()
    old = target / f".{NAME}.123-deadbeef.part"
    recent = target / f".{NAME}.456-feedbeef.part"  # perhaps still being written: kept
    for path in (old, recent):
        path.write_bytes(b"\0" * 100)
    os.utime(old, (time.time() - 2 * 3600,) * 2)
    from cnncourse.data import download_fashion_mnist

    download_fashion_mnist(target, mirrors=[url], md5=SUMS, progress=False)
    assert sorted(p.name for p in target.iterdir()) == sorted([NAME, recent.name])


class _Counting(http.server.BaseHTTPRequestHandler):
    """A good mirror: every file is PAYLOAD; the server counts the requests."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.paths.append(self.path.lstrip("/"))
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


def test_a_stalled_mirror_is_named_given_up_soon_and_asked_last(tmp_path, monkeypatch, capsys):
    """A server that accepts the connection and then sends nothing (the listening socket's
    queue takes it; nobody answers): the learner is told which mirror is being waited on,
    the wait ends after STALL_SECONDS, and the other files go to the good mirror first."""
    import socket

    import cnncourse.data as data

    monkeypatch.setattr(data, "STALL_SECONDS", 0.5)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    good = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    good.paths = []
    threading.Thread(target=good.serve_forever, daemon=True).start()
    stalled_url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    good_url = f"http://127.0.0.1:{good.server_address[1]}/"
    names = [f"file{i}.gz" for i in range(4)]
    try:
        data.download_fashion_mnist(tmp_path, mirrors=[stalled_url, good_url],
                                    md5={n: SUMS[NAME] for n in names}, progress=True)
    finally:
        good.shutdown()
        good.server_close()
        silent.close()
    err = capsys.readouterr().err
    assert f"downloading file0.gz from {stalled_url}" in err
    assert f"{stalled_url} sent nothing for 0.5 s; trying the next mirror" in err
    assert f"downloading file1.gz from {good_url}" in err.split("file0.gz from " + good_url)[1]
    assert f"file1.gz from {stalled_url}" not in err  # once silent, asked last
    assert good.paths == names and all((tmp_path / n).read_bytes() == PAYLOAD for n in names)
    assert data.STALL_SECONDS == 0.5 and err.count("sent nothing") == 1  # one wait, not four
