"""Shared fixtures: tiny IDX files for the loader's error paths, the real data when installed."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

import cnncourse
from cnncourse.data import DataNotFoundError


def write_idx(path: Path, data: torch.Tensor, magic: int | None = None, gz: bool = False,
              truncate: int = 0) -> Path:
    """Write ``data`` (uint8) as an IDX file; ``truncate`` drops that many trailing bytes."""
    magic = magic if magic is not None else (2049 if data.ndim == 1 else 2051)
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in data.shape)
    raw += data.to(torch.uint8).numpy().tobytes()
    if truncate:
        raw = raw[:-truncate]
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(raw)
    return path


def make_fake_copy(folder: Path, n_train: int = 50, n_test: int = 20, gz: bool = True) -> Path:
    """A complete, valid, tiny Fashion-MNIST-shaped copy (for the finder and loader plumbing)."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("test", n_test)):
        img_name, lbl_name = cnncourse.FASHION_MNIST_FILES[split]
        write_idx(folder / (img_name + suffix),
                  torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8), gz=gz)
        write_idx(folder / (lbl_name + suffix),
                  torch.arange(n, dtype=torch.uint8) % 10, gz=gz)
    return folder


@pytest.fixture
def isolated_search(tmp_path, monkeypatch):
    """Point every place the finder looks at empty folders under tmp_path."""
    import cnncourse.data as data

    monkeypatch.delenv("CNNCOURSE_DATA", raising=False)
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    data._read_split.cache_clear()
    yield tmp_path
    data._read_split.cache_clear()


def _real_data_available() -> bool:
    try:
        cnncourse.find_fashion_mnist(download=False)
        return True
    except DataNotFoundError:
        return False


REAL_DATA = _real_data_available()
needs_real_data = pytest.mark.skipif(
    not REAL_DATA, reason="real Fashion-MNIST not installed (apt-get install "
                          "dataset-fashion-mnist, or set CNNCOURSE_DATA); `make test` installs it")
