"""Fashion-MNIST: find it, read and validate the raw IDX files, serve batches fast.

Why not torchvision's ``FashionMNIST`` + ``DataLoader`` as in d2l? That path
converts every image through PIL in worker processes, epoch after epoch, and on
a small model the loader, not the network, sets the pace. The whole data set is
only 70,000 x 28 x 28 bytes (55 MB), so here it lives in one ``uint8`` tensor --
on the training device when asked -- and a batch is an index slice.

Where the data comes from, in order (the first hit wins):

1. ``root=`` passed by the caller, else the folder named by the
   ``CNNCOURSE_DATA`` environment variable -- then *only* there: a folder named
   either way that does not exist or holds no copy is an error naming it (or,
   with ``download=True``, the place the download goes), never a silent
   fall-through to another copy;
2. the usual caches: ``~/.cache/cnncourse``, ``./data``, ``../data`` (d2l's);
3. Debian's ``dataset-fashion-mnist`` package, ``/usr/share/datasets/fashion-mnist``;
4. a download (``download_fashion_mnist``: MD5-checked) into ``~/.cache/cnncourse``
   -- only when none of the above has a copy and ``download=True``.

Nothing is ever faked: no data means a clear error that says where we looked.
"""
from __future__ import annotations

import functools
import gzip
import math
import operator
import os
import zlib
from pathlib import Path
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from .claims import run_seed

__all__ = [
    "LoaderWrapper",
    "DataFileError",
    "DataNotFoundError",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_LABELS",
    "TensorLoader",
    "download_fashion_mnist",
    "find_fashion_mnist",
    "get_fashion_mnist_labels",
    "load_data_fashion_mnist",
    "read_fashion_mnist",
    "read_idx",
]

ENV_VAR = "CNNCOURSE_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE_DIR = Path.home() / ".cache" / "cnncourse"

FASHION_MNIST_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)

# split -> (images file, labels file), without the optional ".gz"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Sub-folders that other tools use for the same files.
_SUBDIRS = ("", "fashion-mnist", "FashionMNIST/raw", "fashion_mnist")

_IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1-D, images: 3-D (unsigned bytes)
_HOW_TO_GET = (
    "Two ways to get it:\n"
    "  * on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist\n"
    "  * with internet: call load_data_fashion_mnist(..., download=True) "
    "(the default), or put the four *-ubyte(.gz) files in a folder and set "
    f"{ENV_VAR}=/that/folder."
)


class DataNotFoundError(FileNotFoundError):
    """No copy of the data set was found (and none could be downloaded)."""


class DataFileError(ValueError):
    """A data file exists but is corrupt, truncated or inconsistent."""


def get_fashion_mnist_labels(labels: Sequence[int] | torch.Tensor) -> list[str]:
    """Text names of Fashion-MNIST class indices (d2l-compatible).

    Each index must be a whole number from 0 to 9: d2l's ``int(i)`` would call 3.7 a dress
    and Python's negative indexing would call -1 an ankle boot, a wrong title under a figure
    that nobody notices.
    """
    names = []
    for i in labels:
        try:
            if isinstance(i, bool):
                raise TypeError
            index = operator.index(i)  # ints, numpy and one-element integer tensors
        except TypeError:
            raise ValueError(f"a Fashion-MNIST label is a class index 0..9, not "
                             f"{type(i).__name__} {i!r}; pass integer labels (y.long(), or "
                             "the argmax of a model's scores)") from None
        if not 0 <= index < len(FASHION_MNIST_LABELS):
            raise ValueError(f"label {index} is not a Fashion-MNIST class: the classes are "
                             f"0..{len(FASHION_MNIST_LABELS) - 1}")
        names.append(FASHION_MNIST_LABELS[index])
    return names


# --------------------------------------------------------------------- finding
def explicit_folder(root: str | os.PathLike | None = None) -> tuple[Path, str] | None:
    """The folder the user named, ``root=`` first, else ``$CNNCOURSE_DATA``, with how it was named.

    A folder named either way is an instruction, not a hint: it is the only place searched
    and downloaded into, so a typo is an error rather than a silent fall-back to another copy.
    An empty ``CNNCOURSE_DATA`` counts as unset.
    """
    if root is not None:
        return Path(root).expanduser(), "root"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), ENV_VAR
    return None


def _candidate_dirs(root: str | os.PathLike | None) -> list[Path]:
    named = explicit_folder(root)
    if named is not None:
        return [named[0]]
    return [CACHE_DIR, Path("data"), Path("..") / "data", DEBIAN_DIR]


def _file_in(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _complete_copy(base: Path) -> dict[str, tuple[Path, Path]] | None:
    for sub in _SUBDIRS:
        folder = base / sub if sub else base
        found = {split: tuple(_file_in(folder, s) for s in stems)
                 for split, stems in FASHION_MNIST_FILES.items()}
        if all(p is not None for pair in found.values() for p in pair):
            return found  # type: ignore[return-value]
    return None


def find_fashion_mnist(root: str | os.PathLike | None = None,
                       download: bool = True) -> dict[str, tuple[Path, Path]]:
    """Paths of the four Fashion-MNIST files: ``{'train': (images, labels), 'test': ...}``.

    Searches the places listed in this module's docstring; downloads only if
    none has a complete copy and ``download`` is true. With ``root`` (or, without
    it, ``$CNNCOURSE_DATA``) only that folder is searched (and downloaded into).
    """
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or Path) or None, "
                        f"not {type(root).__name__} {root!r}")
    named = explicit_folder(root)
    looked = _candidate_dirs(root)
    for base in looked:
        found = _complete_copy(base)
        if found:
            return found
    download_error = None
    if download and named is not None and not named[0].exists():
        # A folder the user named that is not there is far more often a typo than a wish for
        # a new folder: creating it (and 30 MB inside) would hide the typo and the real copy.
        raise DataNotFoundError(_root_message(*named, download, None))
    if download:
        target = named[0] if named is not None else CACHE_DIR
        try:
            _download(target)
            found = _complete_copy(target)
            if found:
                return found
        except Exception as err:  # no network, no torchvision, ...
            download_error = err
    if named is not None:
        raise DataNotFoundError(_root_message(*named, download, download_error))
    where = "\n".join(f"  - {d.resolve() if not d.is_absolute() else d}" for d in looked)
    msg = f"Fashion-MNIST was not found. Looked in:\n{where}\n"
    if download_error is not None:
        msg += f"A download was tried and failed: {download_error!r}\n"
    elif not download:
        msg += "Downloading was switched off (download=False).\n"
    raise DataNotFoundError(msg + _HOW_TO_GET)


def _root_message(folder: Path, how: str, download: bool,
                  download_error: Exception | None) -> str:
    """Why a folder named by ``root=`` or ``$CNNCOURSE_DATA`` gave no data, and how to fix it."""
    named = f"{how}={str(folder)!r}"
    if not folder.is_absolute():  # relative to the working directory, which a notebook hides
        named += f" (from {os.getcwd()}: {str(folder.absolute())!r})"
    if not folder.exists():
        what = f"{named} does not exist"
        if download:
            near = _near_names(folder)
            return (what + "; Fashion-MNIST is never downloaded into a folder that is not "
                    "there, as a mistyped name would silently get a second copy."
                    + (f" Did you mean {' or '.join(repr(str(n)) for n in near)}?" if near
                       else "")
                    + f"\nFix: correct the name; or, for a new folder, create it first "
                    f"(os.makedirs({str(folder)!r})) and the download goes there.")
    elif not folder.is_dir():
        what = f"{named} is a file, not a folder"
    else:
        names = [n for stems in FASHION_MNIST_FILES.values() for n in stems]
        missing = [n for n in names if _file_in(folder, n) is None]
        what = (f"{named} holds no complete copy of Fashion-MNIST "
                f"(missing there: {', '.join(n + '[.gz]' for n in missing)})")
    if download_error is not None:
        what += f"; a download into it was tried and failed: {download_error!r}"
    elif not download:
        what += " (download=False)"
    places = f"{CACHE_DIR}, ./data, ../data or {DEBIAN_DIR}"
    if how == ENV_VAR:
        return (what + f".\nFix: set {ENV_VAR} to the folder that holds the four *-ubyte(.gz) "
                "files, pass download=True to download them into this folder, or unset "
                f"{ENV_VAR} to use the first copy found in {places}.")
    return (what + ".\nFix: pass the folder that holds the four *-ubyte(.gz) files, pass "
            f"download=True to download them into this folder, or leave root out to use ${ENV_VAR} "
            f"when set, else the first copy found in {places}.")


def _near_names(folder: Path) -> list[Path]:
    """Existing folders beside ``folder`` whose names are close to its name (a typo's fix)."""
    import difflib

    parent = folder.parent
    try:
        siblings = [p.name for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return []
    return [parent / n for n in difflib.get_close_matches(folder.name, siblings, n=2, cutoff=0.6)]


# Where the original files are served (torchvision's mirror first, then the authors' repository),
# and their MD5 sums as published by torchvision's FashionMNIST class. Debian's package holds
# re-compressed copies of the same images, so its .gz files have other sums.
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def _download(target: Path) -> None:
    """What ``find_fashion_mnist`` calls when no copy is found (tests replace it)."""
    download_fashion_mnist(target)


def download_fashion_mnist(target: str | os.PathLike = CACHE_DIR,
                           mirrors: Sequence[str] = FASHION_MNIST_MIRRORS,
                           md5: dict[str, str] | None = None,
                           progress: bool = True) -> list[Path]:
    """Download the four ``.gz`` files into ``target`` and check their MD5 sums.

    Files already there with the right sum are kept, so a second call costs
    nothing. Each download goes to a temporary file of its own in ``target``;
    only once the sum of the bytes on disk matches is it renamed into place,
    in one atomic step. So an interrupted, corrupt or concurrent download (two
    notebooks filling one cache) never looks like data and never spoils
    another's. Mirrors are tried in order; the error names every mirror that failed.
    """
    md5 = FASHION_MNIST_MD5 if md5 is None else md5
    target = Path(target).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    mirrors = list(mirrors)
    paths = []
    for name, expected in md5.items():
        path = target / name
        if not (path.is_file() and _md5(path) == expected):
            _remove_abandoned(path)
            errors = []
            for mirror in list(mirrors):
                if progress:  # which server we wait on, before the wait (a stall shows no bar)
                    _say(f"downloading {name} from {mirror}")
                try:
                    _fetch(mirror.rstrip("/") + "/" + name, path, expected, progress)
                    break
                except (OSError, DataFileError) as err:  # URLError is an OSError
                    errors.append(f"{mirror}: {err}")
                    if _is_stall(err):
                        # a silent server stays silent: ask it last for the other files
                        mirrors.remove(mirror)
                        mirrors.append(mirror)
                        if progress:
                            _say(f"{mirror} sent nothing for {STALL_SECONDS:g} s; "
                                 "trying the next mirror")
            else:
                raise DataNotFoundError(f"could not download {name}:\n  " + "\n  ".join(errors))
        paths.append(path)
    return paths


# A server that sends nothing for this long (no connection, no header, no next block) is given
# up on; a live one, even a slow one, sends a 64 KiB block far more often than this.
STALL_SECONDS = 15.0


def _say(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def _is_stall(err: BaseException) -> bool:
    """Whether ``err`` is a timeout (also when urllib wraps it in a URLError)."""
    import socket

    reason = getattr(err, "reason", None)
    return isinstance(err, (TimeoutError, socket.timeout)) or isinstance(
        reason, (TimeoutError, socket.timeout))


# A temporary download file untouched for this long belongs to a process that was killed: a live
# download writes at least every STALL_SECONDS (its read timeout) or fails and deletes its file.
_ABANDONED_AFTER_S = 3600


def _temporary(path: Path) -> Path:
    """A new, empty file beside ``path`` that no other process or thread uses."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.part")
        try:
            with open(tmp, "xb"):  # exclusive: the name is ours alone (umask permissions)
                return tmp
        except FileExistsError:
            continue
    raise OSError(f"cannot create a temporary file beside {path}")


def _remove_abandoned(path: Path) -> None:
    """Delete temporary files of ``path``'s downloads that were killed before cleaning up."""
    import time

    for tmp in path.parent.glob(f".{path.name}.*.part"):
        try:
            if time.time() - tmp.stat().st_mtime > _ABANDONED_AFTER_S:
                tmp.unlink()
        except OSError:  # removed meanwhile by another process
            pass


def _md5(path: Path) -> str:
    import hashlib

    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, path: Path, expected_md5: str, progress: bool) -> None:
    """One file from ``url`` to ``path``, with a progress bar and an MD5 check of what is published.

    The sum is taken of the temporary file read back from disk, not of the bytes as they
    arrived, so whatever else happened to that file is caught before it gets the real name.
    """
    import urllib.request

    tmp = _temporary(path)
    bar = None
    try:
        with (urllib.request.urlopen(url, timeout=STALL_SECONDS) as response,
              open(tmp, "wb") as out):
            total = int(response.headers.get("Content-Length") or 0) or None
            if progress:
                try:
                    from tqdm.auto import tqdm
                    bar = tqdm(total=total, unit="B", unit_scale=True, leave=False,
                               desc=path.name)
                except ImportError:  # no progress bar, same download
                    bar = None
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())  # on disk before it can carry the real name
        actual = _md5(tmp)
        if actual != expected_md5:
            raise DataFileError(f"{url}: MD5 {actual} differs from the published "
                                f"{expected_md5}; the download is damaged (deleted).")
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave half a file behind
        raise
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------- reading
def read_idx(path: str | os.PathLike, expected_dims: int | None = None) -> torch.Tensor:
    """Read one IDX file (gzip or raw) of unsigned bytes into a ``uint8`` tensor.

    Checks the magic number, the number of dimensions and that the payload is
    exactly as long as the header says, so a truncated download fails here
    with the file's name rather than later as a strange shape.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:  # zlib.error: a damaged deflate stream
        raise DataFileError(f"{path}: cannot be read ({err}); the file is damaged. "
                            "Delete it and get the data again.") from err
    if len(raw) < 8:
        raise DataFileError(f"{path}: only {len(raw)} bytes, too short for an IDX header. "
                            "Delete it and get the data again.")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise DataFileError(f"{path}: bad magic number {magic} (expected 2049 for labels or "
                            "2051 for images); this is not an IDX file of unsigned bytes.")
    ndim = _IDX_MAGIC[magic]
    if expected_dims is not None and ndim != expected_dims:
        kind = {1: "labels", 3: "images"}
        raise DataFileError(f"{path}: holds {kind[ndim]} but {kind[expected_dims]} were expected; "
                            "are the image and label files swapped?")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated inside its header.")
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = math.prod(shape)
    if len(raw) - header != expected:
        raise DataFileError(f"{path}: header announces shape {tuple(shape)} = {expected} bytes, "
                            f"but {len(raw) - header} bytes follow; the file is truncated or "
                            "corrupt. Delete it and get the data again.")
    data = torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8)
    return data.reshape(shape)


@functools.lru_cache(maxsize=8)
def _read_split(images: Path, labels: Path) -> tuple[torch.Tensor, torch.Tensor]:
    X = read_idx(images, expected_dims=3)
    y = read_idx(labels, expected_dims=1)
    if X.shape[0] != y.shape[0]:
        raise DataFileError(f"{images} holds {X.shape[0]} images but {labels} holds "
                            f"{y.shape[0]} labels; the two files do not belong together.")
    if y.numel() and int(y.max()) >= len(FASHION_MNIST_LABELS):
        raise DataFileError(f"{labels}: label {int(y.max())} is out of range 0..9.")
    return X, y.long()


def read_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None,
                       download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of one split."""
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images, labels = find_fashion_mnist(root, download)[split]
    return _read_split(images, labels)


# --------------------------------------------------------------------- serving
def _positive_int(name: str, value, hint: str = "") -> int:
    """``value`` as an int >= 1, or a ValueError that names the argument (bools refused)."""
    try:  # numpy / torch integer scalars are fine; floats such as 2.5 and bools are not
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a positive integer, not "
                         f"{type(value).__name__} {value!r}{hint}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value}{hint}")
    return int(value)


def _size_pair(name: str, value) -> tuple[int, int] | None:
    """``resize``: None, a positive int or a pair of positive ints -> (H, W) or None."""
    if value is None:
        return None
    hint = " (an image side in pixels, e.g. 224, or a pair (height, width); None: keep 28x28)"
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be one size or a pair (height, width), "
                             f"not {value!r}{hint}")
        return (_positive_int(f"{name}[0]", value[0], hint),
                _positive_int(f"{name}[1]", value[1], hint))
    side = _positive_int(name, value, hint)
    return (side, side)


# One batch of resized float32 images larger than this is a mistake, not a plan: AlexNet's
# 224 x 224 at batch 128 is 26 MB; resize=10000 at batch 256 would be 102 GB.
MAX_BATCH_BYTES = 4 << 30


def _check_batch_memory(batch_size: int, size: tuple[int, int] | None) -> None:
    """Refuse a ``resize`` whose batches could not fit in memory, before any is made."""
    if size is None:
        return
    nbytes = batch_size * size[0] * size[1] * 4  # one channel of float32
    if nbytes > MAX_BATCH_BYTES:
        raise ValueError(
            f"resize={size[0] if size[0] == size[1] else size} makes every batch of "
            f"{batch_size} images {nbytes / 1e9:,.1f} GB ({batch_size} x {size[0]} x {size[1]} "
            f"float32), more than the {MAX_BATCH_BYTES / 2**30:g} GiB this loader allows; "
            "lower resize (AlexNet uses 224) or the batch size.")


class TensorLoader:
    """Batches from tensors held in memory, a drop-in for a ``DataLoader``.

    Images stay ``uint8`` until a batch is taken; the batch is then scaled to
    ``[0, 1]`` floats of shape ``(B, 1, H, W)`` (what d2l's ``ToTensor`` gives)
    and, if ``resize`` is set, resized as one batched tensor. ``len()`` is the
    number of batches. With ``shuffle`` the order is drawn anew every epoch
    from a seeded generator, so runs repeat exactly.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool = False, resize: int | tuple[int, int] | None = None,
                 seed: int = 0, num_classes: int | None = None) -> None:
        batch_size = _positive_int("batch_size", batch_size)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle = batch_size, shuffle
        self.resize = _size_pair("resize", resize)
        _check_batch_memory(batch_size, self.resize)
        self.num_classes = num_classes
        self.seed = seed  # also the shared shuffle's seed when train_ch6 shards this loader
        self._generator = torch.Generator().manual_seed(seed)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: torch.device | str) -> TensorLoader:
        """Move the whole data set to ``device`` once (in place; returns self)."""
        device = torch.device(device)
        if self.images.device != device:
            self.images = self.images.to(device)
            self.labels = self.labels.to(device)
        return self

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    @property
    def num_examples(self) -> int:
        return len(self.labels)

    def _batch(self, idx: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(idx, slice):
            X, y = self.images[idx], self.labels[idx]
        else:  # index_select: one gather, steadier than advanced indexing on a busy CPU
            X, y = self.images.index_select(0, idx), self.labels.index_select(0, idx)
        X = X.unsqueeze(1).float().div_(255)
        if self.resize is not None and tuple(X.shape[-2:]) != tuple(self.resize):
            X = F.interpolate(X, size=self.resize, mode="bilinear", align_corners=False,
                              antialias=X.shape[-1] > self.resize[-1])
        return X, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=self._generator).to(self.device)
            for i in range(0, n, self.batch_size):
                yield self._batch(order[i:i + self.batch_size])
        else:
            for i in range(0, n, self.batch_size):
                yield self._batch(slice(i, i + self.batch_size))


class LoaderWrapper:
    """Base for a loader that changes each batch of another loader on the way out.

    It forwards what ``train_ch6`` asks of a loader (``len``, ``to``, ``images``,
    ``num_classes``, ``batch_size``, ...) to the wrapped one, so a subclass (augmentation,
    normalisation) writes only ``__iter__`` and stays a drop-in for the loader it wraps.
    """

    def __init__(self, loader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str):
        if name == "loader":  # not set yet (e.g. during unpickling): avoid endless recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def to(self, device) -> LoaderWrapper:
        """Move the wrapped loader's data to ``device`` (returns self, like ``TensorLoader.to``)."""
        self.loader.to(device)
        return self


def _subset(X: torch.Tensor, y: torch.Tensor, size: int | None, seed: int):
    if size is None or size >= len(y):
        return X, y
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:size]
    return X[idx], y[idx]


def _load_arguments(batch_size, resize, subset, test_subset, download, seed, device):
    """``load_data_fashion_mnist``'s arguments checked before any data is read:
    ``(batch_size, seed, device)`` as plain values, or a ValueError naming the argument."""
    batch_size = _positive_int("batch_size", batch_size, " (images per batch, e.g. 256)")
    _check_batch_memory(batch_size, _size_pair("resize", resize))
    for name, size in (("subset", subset), ("test_subset", test_subset)):
        if size is not None:
            _positive_int(name, size, " (a number of examples to keep; None keeps them all)")
    if seed is None:
        seed = run_seed()
    try:  # numpy and torch integers are integers too (np.int64 from np.arange, say)
        if isinstance(seed, bool):
            raise TypeError
        seed = operator.index(seed)
    except TypeError:
        raise ValueError(f"seed must be an integer, not {type(seed).__name__} {seed!r}") from None
    if not isinstance(download, bool):
        raise ValueError(f"download must be True or False, not {download!r}")
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device {device!r} is not a device: use e.g. 'cpu', 'cuda' or "
                             f"d2l.try_gpu() ({err})") from None
    return batch_size, seed, device


def _at_most(name: str, size: int | None, available: int) -> None:
    """A subset of more examples than there are is a mistake to name, not to cut silently."""
    if size is not None and size > available:
        raise ValueError(f"{name}={size} asks for more examples than the {available:,} there "
                         f"are; pass at most {available}, or None to keep them all.")


def load_data_fashion_mnist(batch_size: int, resize: int | tuple[int, int] | None = None, *,
                            root: str | os.PathLike | None = None,
                            device: torch.device | str | None = None,
                            subset: int | None = None, test_subset: int | None = None,
                            download: bool = True, seed: int | None = None,
                            ) -> tuple[TensorLoader, TensorLoader]:
    """Fashion-MNIST as ``(train_iter, test_iter)`` (d2l-compatible first arguments).

    ``subset``/``test_subset`` keep a fixed random sample of that many examples
    (for quick runs); ``device`` puts the data there up front (``train_ch6``
    moves it to the training device anyway). The training iterator reshuffles
    every epoch; the test iterator keeps the file's order. ``seed`` fixes the
    samples and the order of the batches; by default it is the run's seed
    (``run_seed()``: 0, or the seed the claims survey sets), so a survey over seeds
    varies the data order as well as the initial weights. Impossible arguments
    raise a ``ValueError`` naming the argument here, before any data is read.
    """
    batch_size, seed, device = _load_arguments(batch_size, resize, subset, test_subset,
                                               download, seed, device)
    Xtr, ytr = read_fashion_mnist("train", root, download)
    Xte, yte = read_fashion_mnist("test", root, download)
    _at_most("subset", subset, len(ytr))
    _at_most("test_subset", test_subset, len(yte))
    Xtr, ytr = _subset(Xtr, ytr, subset, seed)
    Xte, yte = _subset(Xte, yte, test_subset, seed + 1)
    n_cls = len(FASHION_MNIST_LABELS)
    train_iter = TensorLoader(Xtr, ytr, batch_size, shuffle=True, resize=resize,
                              seed=seed, num_classes=n_cls)
    test_iter = TensorLoader(Xte, yte, batch_size, shuffle=False, resize=resize,
                             num_classes=n_cls)
    if device is not None:
        train_iter.to(device), test_iter.to(device)
    return train_iter, test_iter
