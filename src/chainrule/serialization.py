"""Checkpoints: nested dicts of arrays and plain values in one verified ``.npz`` file.

:func:`save` stores every ndarray as its own ``.npz`` entry and everything else
(dict and list structure, numbers, strings, booleans, None) as JSON in a metadata
entry, next to a SHA-256 checksum of the whole content. The file is written to a
temporary file in the same directory, flushed to disk and renamed over the target,
so a crash mid-write leaves the previous checkpoint intact. :func:`load` never
unpickles anything and raises :class:`~chainrule.errors.CheckpointError` naming the
file for anything that is missing, truncated, corrupted or not a checkpoint.

>>> import os, tempfile
>>> state = {"weight": np.eye(2, dtype=np.float32), "step": 3, "names": ["a", "b"]}
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> save(state, path)
>>> restored = load(path)
>>> restored["weight"].dtype, restored["step"], restored["names"]
(dtype('float32'), 3, ['a', 'b'])
"""

import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

from .errors import CheckpointError

__all__ = ["save", "load", "write_atomically"]

FORMAT = "chainrule-checkpoint"
VERSION = 1
# Array entries are numbered ("a0", "a1", ...) so that any dict key, whatever its
# characters, can be stored: the keys themselves live in the JSON metadata.
_META = "__chainrule__"
# mkstemp creates files readable by the owner only; a checkpoint gets the usual
# permissions instead. Reading the umask means setting it, so do it once, at import.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def save(obj, path):
    """Write ``obj`` (a dict, list or tuple of arrays and plain values) to ``path``.

    Dict keys must be strings or ints; they come back with the same type. Arrays keep
    their dtype and shape; NumPy scalars come back as NumPy scalars. Object arrays and
    other Python objects raise TypeError, since storing them would need pickle.
    """
    arrays = []
    tree = _encode(obj, arrays, "obj")
    meta = {"format": FORMAT, "version": VERSION, "tree": tree}
    meta["sha256"] = _checksum(tree, arrays)
    entries = {f"a{i}": a for i, a in enumerate(arrays)}
    entries[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    write_atomically(path, lambda f: _write_npz(f, entries))


def write_atomically(path, write):
    """Call ``write(f)`` on a new file that then replaces ``path`` in one step.

    The data goes to a temporary file in the same directory, is flushed to disk and
    renamed over ``path``: readers see the old file or the new one, never a part.
    If ``write`` raises, ``path`` is left as it was and the temporary file removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def load(path):
    """Read a checkpoint written by :func:`save` and verify its checksum.

    Raises :class:`~chainrule.errors.CheckpointError` (an OSError) naming the file
    when it is missing, unreadable, truncated, corrupted or not a chainrule checkpoint.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_ZIP_MAGIC))
        if magic != _ZIP_MAGIC:
            raise CheckpointError(f"{path}: not a chainrule checkpoint ({_describe(magic)})")
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            if _META not in names:
                raise CheckpointError(f"{path}: not a chainrule checkpoint "
                                      f"(no {_META!r} metadata entry)")
            meta = json.loads(npz[_META].tobytes().decode("utf-8"))
            count = sum(1 for name in names if name != _META)
            arrays = [npz[f"a{i}"] for i in range(count)]
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    except PermissionError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc.strerror})") from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CheckpointError(f"{path}: not a chainrule checkpoint, it holds pickled "
                                  f"data, which is never loaded") from None
        # Malformed array headers and other refusals of np.load.
        raise CheckpointError(f"{path}: not a valid chainrule checkpoint ({exc})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupted checkpoint "
                              f"({type(exc).__name__}: {exc})") from None

    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (unknown metadata format)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')!r} "
                              f"is not supported (expected {VERSION})")
    try:
        digest = _checksum(meta["tree"], arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupted checkpoint metadata ({exc})") from None
    if digest != meta.get("sha256"):
        raise CheckpointError(f"{path}: checksum mismatch, the checkpoint is corrupted "
                              f"(stored {meta.get('sha256')}, computed {digest})")
    try:
        return _decode(meta["tree"], arrays)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupted checkpoint structure ({exc})") from None


_ZIP_MAGIC = b"PK\x03\x04"


def _describe(magic):
    """What a file that is not a zip archive seems to be, from its first bytes."""
    if not magic:
        return "the file is empty"
    if magic.startswith(b"\x93NUMPY"[:len(magic)]):
        return "a single .npy array, not an .npz archive"
    if magic[:1] == b"\x80":
        return "pickled data, which is never loaded"
    return "not an .npz archive"


def _write_npz(f, entries):
    np.savez(f, **entries)


def _fsync_directory(directory):
    # Makes the rename itself durable; not possible on every platform (Windows).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _encode(value, arrays, where):
    """A JSON-ready description of ``value``; its arrays are appended to ``arrays``."""
    if isinstance(value, dict):
        keys = []
        for key in value:
            if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(f"save: dict key {key!r} at {where} must be a str or an int")
            keys.append(key if isinstance(key, str) else int(key))
        values = [_encode(v, arrays, f"{where}[{k!r}]") for k, v in zip(keys, value.values())]
        return {"t": "dict", "k": keys, "v": values}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {"t": kind, "v": [_encode(v, arrays, f"{where}[{i}]")
                                 for i, v in enumerate(value)]}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"save: {where} is an object array, which needs pickle")
        # A copy: later changes to the caller's array must not alter what is written.
        arrays.append(array.copy(order="C"))
        kind = "array" if isinstance(value, np.ndarray) else "scalar"
        return {"t": kind, "i": len(arrays) - 1}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "json", "v": value}
    if hasattr(value, "__array__"):  # Tensors and other array-likes
        return _encode(np.asarray(value), arrays, where)
    raise TypeError(f"save: cannot store {type(value).__name__} at {where}; "
                    "use arrays, numbers, strings, lists and dicts")


def _decode(node, arrays):
    kind = node["t"]
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in zip(node["k"], node["v"], strict=True)}
    if kind == "list":
        return [_decode(v, arrays) for v in node["v"]]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in node["v"])
    if kind == "array":
        return arrays[node["i"]]
    if kind == "scalar":
        return arrays[node["i"]][()]
    if kind == "json":
        return node["v"]
    raise ValueError(f"unknown node type {kind!r}")


def _checksum(tree, arrays):
    """SHA-256 of the structure and of every array's dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(json.dumps(tree, sort_keys=True).encode("utf-8"))
    for array in arrays:
        header = json.dumps([array.dtype.str, list(array.shape)])
        h.update(header.encode("utf-8"))
        h.update(array.tobytes(order="C"))
    return h.hexdigest()
