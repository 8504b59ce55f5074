"""The data module: finding, reading, validating and serving Fashion-MNIST."""
from __future__ import annotations

import os

import pytest
import torch

import cnncourse
from cnncourse.data import DataFileError, DataNotFoundError, TensorLoader, read_idx

from conftest import make_fake_copy, needs_real_data, write_idx


# ----------------------------------------------------------------- IDX reading
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    data = torch.randint(0, 256, (7, 5, 3), dtype=torch.uint8)
    path = write_idx(tmp_path / ("x.idx" + (".gz" if gz else "")), data, gz=gz)
    assert torch.equal(read_idx(path), data)


def test_bad_magic_names_the_file(tmp_path):
    path = write_idx(tmp_path / "bad-images", torch.zeros(2, 28, 28), magic=1234)
    with pytest.raises(DataFileError, match=r"bad-images.*bad magic number 1234"):
        read_idx(path)


def test_truncated_file_is_reported_with_sizes(tmp_path):
    path = write_idx(tmp_path / "short", torch.zeros(4, 28, 28), truncate=100)
    with pytest.raises(DataFileError, match=r"short.*\(4, 28, 28\).*truncated"):
        read_idx(path)


def test_tiny_file_is_rejected(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataFileError, match="too short"):
        read_idx(path)


def test_damaged_gzip_is_reported(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataFileError, match="broken.gz.*damaged"):
        read_idx(path)


def test_swapped_files_are_detected(tmp_path):
    path = write_idx(tmp_path / "labels", torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(DataFileError, match="swapped"):
        read_idx(path, expected_dims=3)


def test_image_label_count_mismatch(isolated_search):
    folder = make_fake_copy(isolated_search / "copy")
    write_idx(folder / "train-labels-idx1-ubyte.gz", torch.zeros(49, dtype=torch.uint8), gz=True)
    with pytest.raises(DataFileError, match="50 images.*49 labels"):
        cnncourse.read_fashion_mnist("train", root=folder, download=False)


def test_out_of_range_label(isolated_search):
    folder = make_fake_copy(isolated_search / "copy")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", torch.full((20,), 12, dtype=torch.uint8),
              gz=True)
    with pytest.raises(DataFileError, match="label 12 is out of range"):
        cnncourse.read_fashion_mnist("test", root=folder, download=False)


# ----------------------------------------------------------------- finding
def test_missing_data_lists_where_it_looked(isolated_search):
    with pytest.raises(DataNotFoundError) as err:
        cnncourse.find_fashion_mnist(download=False)
    msg = str(err.value)
    for place in ("cache", "debian", "data"):
        assert place in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "CNNCOURSE_DATA" in msg
    assert "download=False" in msg


def test_failed_download_is_reported(isolated_search, monkeypatch):
    import cnncourse.data as data

    def no_network(target):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_download", no_network)
    with pytest.raises(DataNotFoundError, match="download was tried and failed.*unreachable"):
        cnncourse.find_fashion_mnist()


def test_download_happens_only_without_a_copy(isolated_search, monkeypatch):
    import cnncourse.data as data

    calls = []

    def fake_download(target):
        calls.append(target)
        make_fake_copy(target / "FashionMNIST" / "raw", gz=False)

    monkeypatch.setattr(data, "_download", fake_download)
    found = cnncourse.find_fashion_mnist()
    assert calls == [isolated_search / "cache"]
    assert found["train"][0].name == "train-images-idx3-ubyte"
    cnncourse.find_fashion_mnist()  # now the cache has a copy: no second download
    assert len(calls) == 1


def test_search_order_root_then_env_then_debian(isolated_search, monkeypatch):
    import cnncourse.data as data

    debian = make_fake_copy(data.DEBIAN_DIR)
    assert cnncourse.find_fashion_mnist(download=False)["test"][1].parent == debian
    env = make_fake_copy(isolated_search / "env" / "fashion-mnist")
    monkeypatch.setenv("CNNCOURSE_DATA", str(isolated_search / "env"))
    assert cnncourse.find_fashion_mnist(download=False)["test"][1].parent == env
    mine = make_fake_copy(isolated_search / "mine", gz=False)
    assert cnncourse.find_fashion_mnist(mine, download=False)["test"][1].parent == mine


def test_root_that_does_not_exist_is_an_error_naming_it(isolated_search):
    import cnncourse.data as data

    make_fake_copy(data.DEBIAN_DIR)  # a copy elsewhere must not hide the mistake
    with pytest.raises(DataNotFoundError) as err:
        cnncourse.find_fashion_mnist(root=isolated_search / "nowhere", download=False)
    msg = str(err.value)
    assert "nowhere" in msg and "does not exist" in msg
    assert "download=True" in msg and "leave root out" in msg


def test_root_without_data_names_the_missing_files(isolated_search):
    import cnncourse.data as data

    make_fake_copy(data.DEBIAN_DIR)
    empty = isolated_search / "empty"
    empty.mkdir()
    (empty / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataNotFoundError) as err:
        cnncourse.read_fashion_mnist("train", root=empty, download=False)
    msg = str(err.value)
    assert "empty" in msg and "no complete copy" in msg
    assert "t10k-labels-idx1-ubyte" in msg and "train-images-idx3-ubyte[" not in msg


def test_root_with_failed_download_names_the_root(isolated_search, monkeypatch):
    import cnncourse.data as data

    monkeypatch.setattr(data, "_download", lambda target: (_ for _ in ()).throw(
        OSError("network is unreachable")))
    (isolated_search / "mine").mkdir()
    with pytest.raises(DataNotFoundError, match=r"mine.*download into it.*unreachable"):
        cnncourse.find_fashion_mnist(root=isolated_search / "mine")


def test_root_must_be_a_path(isolated_search):
    with pytest.raises(TypeError, match="root must be a folder path"):
        cnncourse.find_fashion_mnist(root=3, download=False)


def test_incomplete_copy_is_skipped(isolated_search):
    folder = make_fake_copy(isolated_search / "partial")
    os.remove(folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataNotFoundError):
        cnncourse.find_fashion_mnist(folder, download=False)


# ----------------------------------------------------------------- serving
def test_loader_batches_cover_the_data_once():
    X = torch.arange(10 * 4 * 4, dtype=torch.uint8).reshape(10, 4, 4)
    y = torch.arange(10)
    it = TensorLoader(X, y, batch_size=4, shuffle=True, seed=3)
    assert len(it) == 3
    epoch1 = torch.cat([b[1] for b in it])
    epoch2 = torch.cat([b[1] for b in it])
    assert sorted(epoch1.tolist()) == list(range(10)) == sorted(epoch2.tolist())
    assert not torch.equal(epoch1, epoch2), "the order must be drawn anew every epoch"
    again = TensorLoader(X, y, batch_size=4, shuffle=True, seed=3)
    assert torch.equal(torch.cat([b[1] for b in again]), epoch1), "same seed, same order"


def test_loader_scales_and_resizes():
    X = torch.full((3, 8, 8), 255, dtype=torch.uint8)
    Xb, _ = next(iter(TensorLoader(X, torch.zeros(3, dtype=torch.long), 2, resize=16)))
    assert Xb.shape == (2, 1, 16, 16) and Xb.dtype == torch.float32
    assert torch.allclose(Xb, torch.ones_like(Xb))


def test_loader_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        TensorLoader(torch.zeros(2, 4, 4), torch.zeros(2), 0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, not float 2.5"):
        TensorLoader(torch.zeros(2, 4, 4), torch.zeros(2), 2.5)
    with pytest.raises(ValueError, match=r"resize\[1\]"):
        TensorLoader(torch.zeros(2, 4, 4), torch.zeros(2), 1, resize=(8, 0))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        TensorLoader(torch.zeros(3, 4, 4), torch.zeros(2), 1)


def test_text_labels():
    assert cnncourse.get_fashion_mnist_labels([0, 9, torch.tensor(8)]) == [
        "t-shirt", "ankle boot", "bag"]


@needs_real_data
def test_real_fashion_mnist_is_complete_and_balanced():
    Xtr, ytr = cnncourse.read_fashion_mnist("train", download=False)
    Xte, yte = cnncourse.read_fashion_mnist("test", download=False)
    assert Xtr.shape == (60000, 28, 28) and Xte.shape == (10000, 28, 28)
    assert Xtr.dtype == torch.uint8
    assert torch.equal(torch.bincount(ytr), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(yte), torch.full((10,), 1000))
    # Not blank, not noise: mean brightness of the real set is about 73/255.
    assert 60 < Xtr.float().mean() < 85


@needs_real_data
def test_load_data_fashion_mnist_d2l_shapes():
    train_iter, test_iter = cnncourse.load_data_fashion_mnist(32, resize=64)
    assert len(train_iter) == 1875 and len(test_iter) == 313
    X, y = next(iter(train_iter))
    assert X.shape == (32, 1, 64, 64) and X.dtype == torch.float32 and y.dtype == torch.long
    assert 0.0 <= X.min() and X.max() <= 1.0


@needs_real_data
def test_subsets_are_fixed_samples():
    a, t = cnncourse.load_data_fashion_mnist(100, subset=1000, test_subset=500)
    b, _ = cnncourse.load_data_fashion_mnist(100, subset=1000, test_subset=500)
    assert a.num_examples == 1000 and t.num_examples == 500
    assert torch.equal(a.labels, b.labels)
    assert len(torch.unique(a.labels)) == 10


@pytest.mark.parametrize("kwargs, name", [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": -3}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"batch_size": "256"}, "batch_size"),
    ({"batch_size": True}, "batch_size"),
    ({"resize": 0}, "resize"),
    ({"resize": -224}, "resize"),
    ({"resize": 22.4}, "resize"),
    ({"resize": (224,)}, "resize"),
    ({"resize": (224, 0)}, r"resize\[1\]"),
    ({"subset": 0}, "subset"),
    ({"subset": 0.5}, "subset"),
    ({"test_subset": -1}, "test_subset"),
    ({"seed": 1.5}, "seed"),
    ({"download": "yes"}, "download"),
    ({"device": "gpu0"}, "device"),
])
def test_load_data_rejects_impossible_arguments_at_the_call(kwargs, name, isolated_search):
    # isolated_search: no data anywhere, so the error must come from the argument check,
    # before the loader looks for files
    args = {"batch_size": 8, "download": False, **kwargs}
    with pytest.raises(ValueError, match=name):
        cnncourse.load_data_fashion_mnist(args.pop("batch_size"), **args)


def test_load_data_accepts_integer_like_sizes(isolated_search):
    make_fake_copy(isolated_search / "copy")
    tr, te = cnncourse.load_data_fashion_mnist(torch.tensor(4), resize=[32, 30],
                                               root=isolated_search / "copy", subset=10)
    X, _ = next(iter(tr))
    assert X.shape == (4, 1, 32, 30) and tr.num_examples == 10


# ----------------------------------------------------------------- damage and mistakes
def test_flipped_bytes_in_a_gz_always_give_a_data_file_error(tmp_path):
    """A flipped bit anywhere that carries data -- the magic and method bytes (0..2) and
    everything after the 10-byte header -- is a DataFileError naming the file, never a bare
    zlib.error. (Bytes 3..9, the flags, time stamp and OS, are not checked by gzip itself.)"""
    import gzip
    import random

    g = torch.Generator().manual_seed(1)
    # mostly dark images with bright strokes: compressible, so Huffman-coded like the real files
    images = torch.randint(0, 256, (20, 28, 28), generator=g, dtype=torch.uint8)
    images[torch.rand(images.shape, generator=g) < 0.7] = 0
    raw_path = write_idx(tmp_path / "raw", images)
    packed = gzip.compress(raw_path.read_bytes(), mtime=0)
    rng = random.Random(0)
    positions = [0, 1, 2] + rng.sample(range(10, len(packed)), 80)
    bad = tmp_path / "flipped-images-idx3-ubyte.gz"
    kinds = set()
    for pos in positions:
        damaged = bytearray(packed)
        damaged[pos] ^= 1 << rng.randrange(8)
        bad.write_bytes(bytes(damaged))
        with pytest.raises(DataFileError) as err:
            read_idx(bad)
        msg = str(err.value)
        assert "flipped-images-idx3-ubyte.gz" in msg and "get the data again" in msg, (pos, msg)
        kinds.add(type(err.value.__cause__).__name__)
    assert "error" in kinds, kinds  # zlib.error among the causes: the case that escaped before


def _copy_elsewhere(isolated_search):
    import cnncourse.data as data

    return make_fake_copy(data.DEBIAN_DIR)  # a copy elsewhere must not hide the mistake


@pytest.mark.parametrize("kind", ["missing", "file", "junk"])
def test_cnncourse_data_is_as_explicit_as_root(isolated_search, monkeypatch, kind):
    _copy_elsewhere(isolated_search)
    target = isolated_search / "mine"
    if kind == "file":
        target.write_text("not a folder")
    elif kind == "junk":
        target.mkdir()
        (target / "notes.txt").write_text("no data here")
    monkeypatch.setenv("CNNCOURSE_DATA", str(target))
    with pytest.raises(DataNotFoundError) as err:
        cnncourse.find_fashion_mnist(download=False)
    msg = str(err.value)
    assert f"CNNCOURSE_DATA={str(target)!r}" in msg
    what = {"missing": "does not exist", "file": "is a file, not a folder",
            "junk": "holds no complete copy"}[kind]
    assert what in msg and "unset CNNCOURSE_DATA" in msg


def test_cnncourse_data_downloads_into_that_folder(isolated_search, monkeypatch):
    import cnncourse.data as data

    calls = []
    monkeypatch.setattr(data, "_download", lambda target: calls.append(target) or
                        make_fake_copy(target))
    monkeypatch.setenv("CNNCOURSE_DATA", str(isolated_search / "mine"))
    (isolated_search / "mine").mkdir()  # an existing folder: see the typo test below
    found = cnncourse.find_fashion_mnist()
    assert calls == [isolated_search / "mine"]
    assert found["train"][0].parent == isolated_search / "mine"


def test_an_empty_cnncourse_data_is_unset(isolated_search, monkeypatch):
    debian = _copy_elsewhere(isolated_search)
    monkeypatch.setenv("CNNCOURSE_DATA", "")
    assert cnncourse.find_fashion_mnist(download=False)["test"][0].parent == debian


def test_a_device_that_is_no_device_names_torch_s_reason(isolated_search):
    with pytest.raises(ValueError) as err:
        cnncourse.load_data_fashion_mnist(8, device="gpu", download=False)
    msg = str(err.value)
    assert "{err}" not in msg and "device 'gpu' is not a device" in msg
    assert "gpu" in msg.split("d2l.try_gpu()", 1)[1], msg  # torch's own words follow


# ----------------------------------------------------------------- small surprises, named
def test_a_mistyped_folder_is_not_created_for_a_download(isolated_search, monkeypatch):
    """A learner who names a folder means "my data is there": a typo must not get a new folder
    and a second 30 MB copy. A folder that exists (empty) is a deliberate place to download."""
    import cnncourse.data as data

    calls = []
    monkeypatch.setattr(data, "_download", lambda target: calls.append(target) or
                        make_fake_copy(target))
    real = isolated_search / "fashion"
    real.mkdir()
    typo = isolated_search / "fashoin"
    for how in ("root", "env"):
        if how == "env":
            monkeypatch.setenv("CNNCOURSE_DATA", str(typo))
        with pytest.raises(DataNotFoundError) as err:
            cnncourse.find_fashion_mnist(root=typo if how == "root" else None, download=True)
        msg = str(err.value)
        assert "does not exist" in msg and f"Did you mean {str(real)!r}" in msg, msg
        assert "os.makedirs" in msg
        assert not typo.exists() and calls == []
    monkeypatch.delenv("CNNCOURSE_DATA")
    assert cnncourse.find_fashion_mnist(root=real)["train"][0].parent == real
    assert calls == [real]


def test_a_relative_cnncourse_data_is_resolved_in_the_message(isolated_search, monkeypatch):
    monkeypatch.chdir(isolated_search)
    monkeypatch.setenv("CNNCOURSE_DATA", "datta")
    with pytest.raises(DataNotFoundError) as err:
        cnncourse.find_fashion_mnist(download=False)
    msg = str(err.value)
    assert "CNNCOURSE_DATA='datta'" in msg and repr(str(isolated_search / "datta")) in msg, msg


def test_a_numpy_integer_seed_is_an_integer(isolated_search):
    import numpy as np

    make_fake_copy(isolated_search / "copy")
    runs = [cnncourse.load_data_fashion_mnist(4, root=isolated_search / "copy", subset=8,
                                              seed=seed)[0] for seed in (np.int64(1), 1)]
    assert torch.equal(runs[0].labels, runs[1].labels)
    assert torch.equal(*(next(iter(r))[1] for r in runs))


def test_a_subset_larger_than_the_data_is_refused(isolated_search):
    copy = make_fake_copy(isolated_search / "copy")
    n_train = len(read_idx(copy / "train-labels-idx1-ubyte.gz"))
    with pytest.raises(ValueError, match=rf"subset=1000000 asks for more examples than the "
                                         rf"{n_train:,} there are"):
        cnncourse.load_data_fashion_mnist(4, root=copy, subset=10**6)
    with pytest.raises(ValueError, match="test_subset=99999"):
        cnncourse.load_data_fashion_mnist(4, root=copy, test_subset=99999)
    assert cnncourse.load_data_fashion_mnist(4, root=copy, subset=n_train)[0].num_examples \
        == n_train  # all of them is fine


def test_a_resize_too_large_for_memory_is_refused_before_any_batch(isolated_search):
    # isolated_search: no data anywhere, so the refusal comes before the files are looked for
    with pytest.raises(ValueError, match=r"resize=10000 makes every batch of 256 images "
                                         r"102\.4 GB.*lower resize"):
        cnncourse.load_data_fashion_mnist(256, resize=10000, download=False)
    with pytest.raises(ValueError, match="lower resize"):
        cnncourse.TensorLoader(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4),
                               256, resize=(10000, 10000))
    cnncourse.TensorLoader(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4), 128,
                           resize=224)  # AlexNet's: fine
