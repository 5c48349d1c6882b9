"""Readers for image datasets in the files their publishers distribute, which a user
downloads once and points :func:`~chainrule.data.load_dataset` at (nothing is fetched):
MNIST and Fashion-MNIST as IDX files (plain or gzip) and CIFAR-10's binary version.

Everything is parsed with ``np.frombuffer`` and checked before use: magic numbers,
dimensions, file sizes and label ranges. A damaged file raises
:class:`DatasetFileError` naming it and what is wrong; a missing one raises
FileNotFoundError listing the files expected.
"""

import gzip
import os
import zlib

import numpy as np

__all__ = ["DatasetFileError", "load_image_files", "read_cifar10_batch", "read_idx"]

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UBYTE = 0x08
_CIFAR_SIDE, _CIFAR_CHANNELS, _NUM_CLASSES = 32, 3, 10
_CIFAR_RECORD = 1 + _CIFAR_CHANNELS * _CIFAR_SIDE * _CIFAR_SIDE

# name -> (file names by split, subfolders that downloaders use, where to get them)
_IDX_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FILES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
# name -> (the files of each split, subfolders to look in, where to get them)
SOURCES: dict[str, tuple[dict[str, tuple[str, ...]], tuple[str, ...], str]] = {
    "mnist": (_IDX_FILES, ("MNIST/raw", "raw"), "https://yann.lecun.com/exdb/mnist/"),
    "fashion_mnist": (
        _IDX_FILES,
        ("FashionMNIST/raw", "raw"),
        "https://github.com/zalandoresearch/fashion-mnist",
    ),
    "cifar10": (
        _CIFAR_FILES,
        ("cifar-10-batches-bin",),
        "https://www.cs.toronto.edu/~kriz/cifar.html: cifar-10-binary.tar.gz, extracted",
    ),
}


class DatasetFileError(ValueError):
    """A dataset file is truncated, corrupt or not in the format expected."""


def _read_bytes(path):
    """The file's bytes, gunzipped when they start with gzip's magic number (whatever
    the name says: browsers sometimes unpack a download but keep its .gz name)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetFileError(f"{path}: truncated or corrupt gzip data ({exc})") from None


def read_idx(path, ndim):
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions as a uint8 array.

    The header is two zero bytes, the type code 0x08 (unsigned byte), the number of
    dimensions, then each dimension as a big-endian 32-bit integer; the values follow.

    >>> import tempfile
    >>> header = bytes([0, 0, 8, 2]) + np.array([2, 3], ">u4").tobytes()
    >>> with tempfile.NamedTemporaryFile(suffix="-idx2-ubyte", delete=False) as f:
    ...     _ = f.write(header + bytes(range(6)))
    >>> read_idx(f.name, 2)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFileError(
            f"{path}: truncated: {len(raw)} bytes, shorter than the {header}-byte header of "
            f"an IDX file with {ndim} dimensions"
        )
    magic = int.from_bytes(raw[:4], "big")
    expected = (_IDX_UBYTE << 8) | ndim
    if magic != expected:
        raise DatasetFileError(
            f"{path}: magic number 0x{magic:08X}, expected 0x{expected:08X} (an IDX file of "
            f"unsigned bytes with {ndim} dimensions); is it the right file?"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    size = header + int(np.prod(shape, dtype=np.int64))
    dims = "x".join(map(str, shape))
    if len(raw) != size:
        problem = "truncated" if len(raw) < size else "corrupt: trailing bytes"
        raise DatasetFileError(
            f"{path}: {problem}: {len(raw)} bytes, but its header ({dims}) needs {size}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def read_cifar10_batch(path):
    """Read one file of CIFAR-10's binary version: records of one label byte and
    3072 pixel bytes (the red, green and blue 32x32 planes, rows in order).

    Returns ``(images, labels)``: uint8 N x 3 x 32 x 32 and uint8 N.
    """
    raw = _read_bytes(path)
    if len(raw) == 0 or len(raw) % _CIFAR_RECORD:
        raise DatasetFileError(
            f"{path}: {len(raw)} bytes is not a whole number of {_CIFAR_RECORD}-byte records "
            f"(1 label byte + 3072 pixel bytes): the file is truncated, or not from "
            f"CIFAR-10's binary version"
        )
    records = np.frombuffer(raw, np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0]
    _check_labels(path, labels)
    images = records[:, 1:].reshape(-1, _CIFAR_CHANNELS, _CIFAR_SIDE, _CIFAR_SIDE)
    return images, labels


def _check_labels(path, labels):
    bad = np.flatnonzero(labels >= _NUM_CLASSES)
    if bad.size:
        raise DatasetFileError(
            f"{path}: label {labels[bad[0]]} at record {bad[0]} is outside 0..{_NUM_CLASSES - 1}"
            f" ({bad.size} such labels): the file is corrupt or not a label file"
        )


def _read_idx_split(name, paths):
    images_path, labels_path = paths
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != (28, 28):
        raise DatasetFileError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, but {name} "
            f"images are 28x28"
        )
    if len(images) != len(labels):
        raise DatasetFileError(
            f"{labels_path} holds {len(labels)} labels but {images_path} holds {len(images)} images"
        )
    if len(images) == 0:
        raise DatasetFileError(f"{images_path}: holds no images")
    _check_labels(labels_path, labels)
    return images[:, None], labels


def _read_cifar_split(name, paths):
    parts = [read_cifar10_batch(p) for p in paths]
    return (
        np.concatenate([images for images, _ in parts]),
        np.concatenate([labels for _, labels in parts]),
    )


def _find(name, directory):
    """The path of every file ``name`` needs, by split; looks in ``directory`` and in the
    subfolders that the usual downloaders create."""
    files, subfolders, source = SOURCES[name]
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{name}: path {directory!r} is not a directory")
    folders = [directory] + [os.path.join(directory, sub) for sub in subfolders]
    wanted = [f for split in files.values() for f in split]
    # The first folder holding any of the files is the one used (and named if some
    # are missing); with none anywhere, the error names the folder the user gave.
    found, folder = {}, directory
    for candidate in folders:
        for f in wanted:
            names = [f, f + ".gz"] if files is _IDX_FILES else [f]
            hits = [
                os.path.join(candidate, n)
                for n in names
                if os.path.isfile(os.path.join(candidate, n))
            ]
            if hits:
                found[f] = hits[0]
        if found:
            folder = candidate
            break
    missing = [f for f in wanted if f not in found]
    if missing:
        plain_or_gz = ", each plain or .gz" if files is _IDX_FILES else ""
        hint = ""
        if name == "cifar10" and os.path.isfile(os.path.join(folder, "data_batch_1")):
            hint = " (data_batch_1 without .bin is the pickled Python version, never read)"
        raise FileNotFoundError(
            f"{name}: missing {', '.join(missing)} in {folder!r}{hint}; expected "
            f"{', '.join(wanted)}{plain_or_gz} (get them from {source})"
        )
    return {split: tuple(found[f] for f in split_files) for split, split_files in files.items()}


def load_image_files(name, directory):
    """Read the official train and test splits of ``name`` from ``directory``.

    Returns ``(x_train, y_train, x_test, y_test)``: uint8 N x C x H x W images and
    int64 labels, in the files' order.
    """
    paths = _find(name, directory)
    read = _read_cifar_split if name == "cifar10" else _read_idx_split
    x_train, y_train = read(name, paths["train"])
    x_test, y_test = read(name, paths["test"])
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)
