"""Checkpoints: nested dicts of arrays and plain values in one verified ``.npz`` file.

:func:`save` stores every ndarray as its own ``.npz`` entry and everything else
(dict and list structure, numbers, strings, booleans, None) as JSON in a metadata
entry, next to a SHA-256 checksum of the whole content. The file is written to a
temporary file in the same directory, flushed to disk and renamed over the target,
so a crash mid-write leaves the previous checkpoint intact. :func:`load` never
unpickles anything, checks every size the file declares against the file before
allocating, and raises :class:`~chainrule.errors.CheckpointError` naming the file for
anything that is missing, truncated, corrupted or not a checkpoint.
:func:`check_structure` then checks that a loaded checkpoint holds what a program
expects, naming the first field that does not.

>>> import os, tempfile
>>> state = {"weight": np.eye(2, dtype=np.float32), "step": 3, "names": ["a", "b"]}
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> save(state, path)
>>> restored = load(path)
>>> restored["weight"].dtype, restored["step"], restored["names"]
(dtype('float32'), 3, ['a', 'b'])
"""

import errno
import hashlib
import json
import math
import os
import re
import secrets
import stat
import struct
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO, TypeAlias

import numpy as np

from .errors import CheckpointError

try:
    import fcntl
except ImportError:  # Windows: there, a file open in another process cannot be removed
    fcntl = None  # type: ignore[assignment]

__all__ = ["save", "load", "check_structure", "write_atomically", "MAX_DEPTH"]

#: A file path: text, bytes or a path object.
StrPath: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]

FORMAT = "chainrule-checkpoint"
VERSION = 1
# Array entries are numbered ("a0", "a1", ...) so that any dict key, whatever its
# characters, can be stored: the keys themselves live in the JSON metadata.
_META = "__chainrule__"
# How deeply dicts, lists and tuples may nest: far beyond any state dict, and low
# enough that neither writing nor reading a checkpoint comes near the recursion limit.
MAX_DEPTH = 100
# Python refuses to turn ints of more than 4300 digits into text (sys.int_info).
_MAX_INT_BITS = 10_000
# Arrays are written, read and hashed in pieces of this size, so that saving and
# loading need little memory beyond the arrays themselves.
_CHUNK = 1 << 20
_TMP_SUFFIX = ".chainrule-tmp"


# ------------------------------------------------------------------------------ save


def save(obj: Any, path: StrPath) -> None:
    """Write ``obj`` (a dict, list or tuple of arrays and plain values) to ``path``.

    Dict keys must be strings or ints; they come back with the same type. Arrays keep
    their dtype and shape; NumPy scalars come back as NumPy scalars. Object arrays and
    other Python objects raise TypeError, since storing them would need pickle; a
    container that holds itself, or nesting deeper than :data:`MAX_DEPTH`, raises
    ValueError. ``path`` is replaced atomically (see :func:`write_atomically`).
    """
    arrays: list[np.ndarray] = []
    tree = _encode(obj, arrays, "obj", set())
    write_atomically(path, lambda f: _write_archive(f, tree, arrays))


def _write_archive(f, tree, arrays):
    """Write the checkpoint to ``f``: one ``.npy`` entry per array, then the metadata.

    Each array is written and hashed piece by piece, never copied whole.
    """
    h = hashlib.sha256(_tree_bytes(tree))
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for i, array in enumerate(arrays):
            h.update(_array_header(array))
            with archive.open(f"a{i}.npy", "w", force_zip64=True) as entry:
                header = np.lib.format.header_data_from_array_1_0(array)
                header["fortran_order"] = False  # the pieces come in C order
                try:
                    np.lib.format.write_array_header_1_0(entry, header)
                except ValueError:  # a header too long for format 1.0
                    np.lib.format.write_array_header_2_0(entry, header)
                for piece in _pieces(array):
                    h.update(piece)
                    entry.write(piece)
        meta = {"format": FORMAT, "version": VERSION, "tree": tree, "sha256": h.hexdigest()}
        text = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        with archive.open(f"{_META}.npy", "w") as entry:
            np.lib.format.write_array(entry, text)


def _encode(value, arrays, where, open_containers):
    """A JSON-ready description of ``value``; its arrays are appended to ``arrays``.

    ``open_containers`` holds the ids of the containers ``value`` is inside of.
    """
    if isinstance(value, (dict, list, tuple)):
        if id(value) in open_containers:
            raise ValueError(
                f"save: {where} contains itself (a reference cycle), "
                "which a checkpoint cannot store"
            )
        if len(open_containers) >= MAX_DEPTH:
            raise ValueError(
                f"save: {_shorten(where, 80)} is nested more than {MAX_DEPTH} levels deep"
            )
        open_containers.add(id(value))
        try:
            return _encode_container(value, arrays, where, open_containers)
        finally:
            open_containers.discard(id(value))
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"save: {where} is an object array, which needs pickle")
        if not _latin1(str(array.dtype.descr)):
            raise TypeError(f"save: {where} has field names that are not Latin-1")
        # Not copied: the file is written before save returns.
        arrays.append(array)
        kind = "array" if isinstance(value, np.ndarray) else "scalar"
        return {"t": kind, "i": len(arrays) - 1}
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value.bit_length() > _MAX_INT_BITS
    ):
        raise ValueError(
            f"save: the int at {where} has more than {_MAX_INT_BITS} bits; store it as a string"
        )
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "json", "v": value}
    if hasattr(value, "__array__"):  # Tensors and other array-likes
        try:
            array = np.asarray(value)
        except Exception as exc:
            raise TypeError(
                f"save: cannot convert the {type(value).__name__} at {where} to an array ({exc})"
            ) from None
        return _encode(array, arrays, where, open_containers)
    raise TypeError(
        f"save: cannot store {type(value).__name__} at {where}; "
        "use arrays, numbers, strings, lists and dicts"
    )


def _encode_container(value, arrays, where, open_containers):
    if isinstance(value, dict):
        keys = []
        for key in value:
            if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(f"save: dict key {key!r} at {where} must be a str or an int")
            keys.append(key if isinstance(key, str) else int(key))
        values = [
            _encode(v, arrays, f"{where}[{k!r}]", open_containers)
            for k, v in zip(keys, value.values())
        ]
        return {"t": "dict", "k": keys, "v": values}
    kind = "list" if isinstance(value, list) else "tuple"
    return {
        "t": kind,
        "v": [_encode(v, arrays, f"{where}[{i}]", open_containers) for i, v in enumerate(value)],
    }


def _latin1(text):
    # np.save writes an array whose dtype needs more (format 3.0), which load refuses.
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


# ------------------------------------------------------------------ atomic writes


def write_atomically(path: StrPath, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(f)`` on a new file that then replaces ``path`` in one step.

    The data goes to a temporary file ``.NAME.<random>.chainrule-tmp`` in the same
    directory, is flushed to disk and renamed over ``path``: readers see the old file or
    the new one, never a part. If ``write`` raises, ``path`` is left as it was and the
    temporary file removed; temporary files of writers killed outright (``kill -9``) are
    removed by the next write to the same path. A symlink is followed and its target
    replaced; the file keeps its permission bits. Anything but a regular file at
    ``path`` (a directory, a device, a FIFO), or a file that is not writable, is refused
    with an OSError naming ``path``, as are the errors of writing itself.
    """
    path = os.fsdecode(os.fspath(path))
    target = tmp = None
    try:
        target, existing = _regular_target(path)
        directory, name = os.path.split(target)
        _remove_stale_temporaries(directory, name)
        fd, tmp = _create_temporary(directory, name, existing)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:  # renamed while still locked: no cleaner can take it
                os.replace(tmp, target)
        if fcntl is None:  # Windows cannot rename an open file
            os.replace(tmp, target)
        tmp = None
    except BaseException as exc:
        if tmp is not None:
            _remove(tmp)
        if (
            isinstance(exc, OSError)
            and exc.errno is not None
            and (
                exc.filename in (None, path, target)
                or _TEMPORARY.fullmatch(os.path.basename(str(exc.filename)))
            )
        ):
            # Name the file the caller asked for, not the hidden temporary file.
            raise OSError(exc.errno, exc.strerror, path) from None
        raise
    _fsync_directory(directory)


def _regular_target(path):
    """The file that writing ``path`` replaces, following symlinks, and its stat or None."""
    if not path or path.endswith(("/", os.sep)):
        raise IsADirectoryError(f"{path!r}: names a directory; give the path of a file")
    target = os.path.realpath(path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return target, None
    if stat.S_ISLNK(info.st_mode):  # realpath stops at a symlink loop
        raise OSError(errno.ELOOP, "Too many levels of symbolic links", path)
    if not stat.S_ISREG(info.st_mode):
        kind = _file_kind(info.st_mode)
        error = IsADirectoryError if stat.S_ISDIR(info.st_mode) else OSError
        raise error(f"{path}: is {kind}, not a regular file; nothing was written")
    if not os.access(target, os.W_OK):
        raise PermissionError(
            errno.EACCES, "Permission denied: the file is read-only, so it is not replaced", path
        )
    return target, info


def _file_kind(mode):
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _temporary_pattern(name):
    # Names are cut short so that the temporary name fits in 255 bytes.
    return re.compile(re.escape(f".{name[:50]}.") + "[0-9a-f]{16}" + re.escape(_TMP_SUFFIX))


_TEMPORARY = re.compile(r"\..*\.[0-9a-f]{16}" + re.escape(_TMP_SUFFIX))


def _create_temporary(directory, name, existing):
    """A new locked temporary file for ``name``: ``(fd, path)``.

    A writer holds an exclusive lock on its temporary file until it is renamed, which
    tells the live files from those of killed writers (the kernel drops their locks).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(directory, f".{name[:50]}.{secrets.token_hex(8)}{_TMP_SUFFIX}")
        # Owner-only until the final permissions are set.
        fd = os.open(tmp, flags, 0o600 if existing else 0o666)
        if fcntl is None:
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: go on unlocked
            break
        if os.fstat(fd).st_nlink:
            break
        os.close(fd)  # a cleaner removed it before the lock was taken: start again
    try:
        if existing is not None:
            created = os.fstat(fd)
            if hasattr(os, "chown") and (existing.st_uid, existing.st_gid) != (
                created.st_uid,
                created.st_gid,
            ):
                try:
                    os.chown(tmp, existing.st_uid, existing.st_gid)
                except OSError:  # only root may give a file away
                    pass
            os.chmod(tmp, stat.S_IMODE(existing.st_mode))
    except BaseException:
        os.close(fd)
        _remove(tmp)
        raise
    return fd, tmp


def _remove_stale_temporaries(directory, name):
    """Remove the temporary files that killed writers of ``name`` left behind."""
    pattern = _temporary_pattern(name)
    try:
        candidates = [entry for entry in os.listdir(directory) if pattern.fullmatch(entry)]
    except OSError:
        return
    for entry in candidates:
        tmp = os.path.join(directory, entry)
        if fcntl is None:
            _remove(tmp)  # fails while its writer has it open
            continue
        try:
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while its writer lives
            if os.path.samestat(os.fstat(fd), os.lstat(tmp)):
                os.unlink(tmp)
        except OSError:
            pass
        finally:
            os.close(fd)


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


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


# ------------------------------------------------------------------------------ load


def load(path: StrPath, schema: Any = None) -> Any:
    """Read a checkpoint written by :func:`save` and verify its checksum.

    Raises :class:`~chainrule.errors.CheckpointError` (an OSError) naming the file
    when it is missing, unreadable, truncated, corrupted or not a chainrule checkpoint.
    With ``schema``, the result is also checked with :func:`check_structure`.
    """
    path = os.fsdecode(os.fspath(path))
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise CheckpointError(
                    f"{path}: is {_file_kind(info.st_mode)}, not a checkpoint file"
                )
            magic = f.read(len(_ZIP_MAGIC))
            if magic != _ZIP_MAGIC:
                raise CheckpointError(f"{path}: not a chainrule checkpoint ({_describe(magic)})")
            f.seek(0)
            obj = _read_checkpoint(f, info.st_size, path)
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    except PermissionError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc.strerror})") from None
    except (
        OSError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        OverflowError,
        RuntimeError,
        NotImplementedError,
        struct.error,
        zipfile.BadZipFile,
    ) as exc:
        # Whatever else a damaged archive makes zipfile or NumPy's header parser raise
        # (a RecursionError is a RuntimeError).
        detail = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(
            f"{path}: truncated or corrupted checkpoint ({_shorten(detail)})"
        ) from None
    if schema is not None:
        check_structure(obj, schema, path)
    return obj


_ZIP_MAGIC = b"PK\x03\x04"


def _describe(magic):
    """What a file that is not a zip archive seems to be, from its first bytes."""
    if not magic:
        return "the file is empty"
    if magic.startswith(b"\x93NUMPY"[: len(magic)]):
        return "a single .npy array, not an .npz archive"
    if magic[:1] == b"\x80":
        return "pickled data, which is never loaded"
    return "not an .npz archive"


def _shorten(text, limit=200):
    return text if len(text) <= limit else text[:limit] + "..."


def _read_checkpoint(f, size, path):
    """The object stored in the open archive ``f`` of ``size`` bytes."""
    with zipfile.ZipFile(f) as archive:
        entries = _check_entries(archive, size, path)
        raw = _read_npy(archive, entries.pop(_META), size, path)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise CheckpointError(f"{path}: corrupted checkpoint (malformed metadata entry)")
        try:
            meta = json.loads(str(raw.data, "utf-8"))
        except RecursionError:
            raise CheckpointError(
                f"{path}: corrupted checkpoint (metadata nested too deeply)"
            ) from None
        except ValueError as exc:
            raise CheckpointError(
                f"{path}: corrupted checkpoint metadata ({_shorten(str(exc))})"
            ) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a chainrule checkpoint (unknown metadata format)")
        if meta.get("version") != VERSION:
            raise CheckpointError(
                f"{path}: checkpoint format version "
                f"{_brief(meta.get('version'))} is not "
                f"supported (expected {VERSION})"
            )
        problem = _check_tree(meta.get("tree"), len(entries))
        if problem:
            raise CheckpointError(f"{path}: corrupted checkpoint structure ({problem})")
        arrays = [_read_npy(archive, entries[f"a{i}"], size, path) for i in range(len(entries))]
    digest = _checksum(meta["tree"], arrays)
    if digest != meta.get("sha256"):
        raise CheckpointError(
            f"{path}: checksum mismatch, the checkpoint is corrupted "
            f"(stored {_brief(meta.get('sha256'))}, "
            f"computed {digest!r})"
        )
    return _decode(meta["tree"], arrays)


def _check_entries(archive, size, path):
    """The archive's entries by name, once their names and sizes are checked."""
    infos = archive.infolist()
    entries = {info.filename.removesuffix(".npy"): info for info in infos}
    if _META not in entries:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (no {_META!r} metadata entry)")
    expected = {_META} | {f"a{i}" for i in range(len(infos) - 1)}
    unexpected = sorted(name for name in entries if name not in expected)
    what: str | None
    if len(entries) != len(infos) or unexpected:
        what = f"unexpected entry {unexpected[0]!r}" if unexpected else "duplicate entries"
        raise CheckpointError(f"{path}: corrupted checkpoint ({_shorten(what, 80)})")
    for info in infos:
        what = None
        if info.flag_bits & 0x1:
            what = "is encrypted"
        elif info.compress_type != zipfile.ZIP_STORED:
            what = (
                f"uses compression method {info.compress_type}; checkpoint entries "
                "are stored uncompressed"
            )
        elif info.compress_size != info.file_size or info.file_size > size:
            what = f"declares {info.file_size} bytes, but the file has {size}"
        if what:
            raise CheckpointError(
                f"{path}: corrupted checkpoint (entry {_shorten(info.filename, 40)!r} {what})"
            )
    total = sum(info.file_size for info in infos)
    if total > size:
        raise CheckpointError(
            f"{path}: corrupted checkpoint (its entries declare {total} "
            f"bytes in all, but the file has {size})"
        )
    return entries


def _read_npy(archive, info, size, path):
    """The array in the ``.npy`` entry ``info``, its size checked before allocating."""
    where = f"{path}: corrupted checkpoint (entry {_shorten(info.filename, 40)!r}"
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise CheckpointError(f"{where} has .npy format version {version})")
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = read_header(f)
        if dtype.hasobject:
            raise CheckpointError(
                f"{path}: not a chainrule checkpoint, it holds pickled data, which is never loaded"
            )
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if min(shape, default=0) < 0 or count > size or f.tell() + nbytes != info.file_size:
            raise CheckpointError(
                f"{where} declares an array of shape {_shorten(str(shape))}"
                f" and dtype {dtype}, {nbytes} bytes, but holds "
                f"{info.file_size - f.tell()})"
            )
        flat = np.empty(count, dtype)
        if nbytes:  # (a dtype of itemsize 0 has no byte view)
            buffer = flat.reshape(-1).view(np.uint8)
            done = 0
            while done < nbytes:
                piece = f.read(min(_CHUNK, nbytes - done))
                if not piece:
                    raise CheckpointError(f"{where} is truncated)")
                buffer[done : done + len(piece)] = np.frombuffer(piece, np.uint8)
                done += len(piece)
    return flat.reshape(shape, order="F" if fortran_order else "C")


def _check_tree(tree, count):
    """What is wrong with the metadata tree of a checkpoint with ``count`` arrays, or None.

    Walks the tree without recursion, so that nothing about it can exhaust the stack.
    """
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        kind = node.get("t") if isinstance(node, dict) else None
        if not isinstance(kind, str) or set(node) != _NODE_FIELDS.get(kind):
            return f"malformed node {_brief(node)}"
        if kind in ("dict", "list", "tuple"):
            values = node["v"]
            if depth >= MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            if not isinstance(values, list):
                return f"{kind} node without a list of values"
            if kind == "dict":
                keys = node["k"]
                if not isinstance(keys, list) or len(keys) != len(values):
                    return "dict node whose keys do not match its values"
                if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys):
                    return "dict node with a key that is not a str or an int"
                if len(set(keys)) != len(keys):
                    return "dict node with a repeated key"
            stack.extend((value, depth + 1) for value in values)
        elif kind == "json":
            if not isinstance(node["v"], (type(None), bool, int, float, str)):
                return "value node that is not a number, string, boolean or null"
        else:
            index = node["i"]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
                return f"array index {_brief(index)} out of range"
    return None


_NODE_FIELDS = {
    "dict": {"t", "k", "v"},
    "list": {"t", "v"},
    "tuple": {"t", "v"},
    "array": {"t", "i"},
    "scalar": {"t", "i"},
    "json": {"t", "v"},
}


def _brief(value):
    """A short description of a metadata value of any shape, without recursing into it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return _shorten(repr(value), 60)
    return f"of type {type(value).__name__}"


def _decode(node, arrays):
    # The tree is checked and at most MAX_DEPTH deep: recursion is safe here.
    kind = node["t"]
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in zip(node["k"], node["v"])}
    if kind == "list":
        return [_decode(v, arrays) for v in node["v"]]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in node["v"])
    if kind == "array":
        return arrays[node["i"]]
    if kind == "scalar":
        return arrays[node["i"]][()]
    return node["v"]


def _checksum(tree, arrays):
    """SHA-256 of the structure and of every array's dtype, shape and bytes."""
    h = hashlib.sha256(_tree_bytes(tree))
    for array in arrays:
        h.update(_array_header(array))
        for piece in _pieces(array):
            h.update(piece)
    return h.hexdigest()


def _tree_bytes(tree):
    return json.dumps(tree, sort_keys=True).encode("utf-8")


def _array_header(array):
    return json.dumps([array.dtype.str, list(array.shape)]).encode("utf-8")


def _pieces(array):
    """The bytes of ``array`` in C order, as copies of at most about ``_CHUNK`` bytes.

    Saving hashes and writes the same copy, so the checksum is true to the file even if
    another thread changes the array meanwhile.
    """
    step = max(1, _CHUNK // max(1, array.itemsize))
    flat = array.reshape(-1) if array.flags.c_contiguous else array.flat  # no copy
    for start in range(0, array.size, step):
        yield flat[start : start + step].copy().view(np.uint8)


# ------------------------------------------------------------ structure of a checkpoint


def check_structure(obj: Any, schema: Any, path: StrPath, name: str = "checkpoint") -> None:
    """Check that ``obj``, loaded from ``path``, has the structure ``schema`` describes.

    Raises :class:`~chainrule.errors.CheckpointError` naming the file and the first
    field that differs, e.g. ``ckpt.npz: checkpoint['model']['0.weight'] has shape
    (3, 2), expected (4, 2)``. A schema is:

    - a type or a tuple of types: the value is an instance (a bool is no int or float
      unless ``bool`` is listed); ``object`` accepts anything;
    - a dict of schemas: the value is a dict with exactly these keys, each value
      matching its schema; the key ``...`` allows further keys, whose values match
      ``schema[...]``;
    - a list holding one schema: the value is a list or tuple whose items all match it;
    - an array or Tensor: the value is an ndarray of the same shape (a module's
      ``state_dict()`` is thus a schema for the saved one).

    >>> schema = {"epoch": int, "model": {"w": np.zeros((2, 2))}, ...: object}
    >>> check_structure({"epoch": 3, "model": {"w": np.ones((2, 2))}, "x": 1}, schema, "c")
    >>> check_structure({"epoch": 3, "model": {"w": np.ones(3)}}, schema, "c")
    Traceback (most recent call last):
    chainrule.errors.CheckpointError: c: checkpoint['model']['w'] has shape (3,), expected (2, 2)
    """
    problem = _mismatch(obj, schema, name)
    if problem:
        raise CheckpointError(f"{os.fsdecode(path)}: {problem}")


def _mismatch(value, schema, where):
    """How ``value`` (found at ``where``) differs from ``schema``, or None."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where} is {_kind_of(value)}, expected a dict"
        for key in schema:
            if key is not ... and key not in value:
                return f"{where} has no field {key!r}"
        for key, item in value.items():
            if key not in schema and ... not in schema:
                return f"{where} has an unexpected field {_shorten(repr(key), 60)}"
            problem = _mismatch(
                item, schema.get(key, schema.get(...)), f"{where}[{_shorten(repr(key), 60)}]"
            )
            if problem:
                return problem
        return None
    if isinstance(schema, list):
        if not isinstance(value, (list, tuple)):
            return f"{where} is {_kind_of(value)}, expected a list"
        for i, item in enumerate(value):
            problem = _mismatch(item, schema[0], f"{where}[{i}]")
            if problem:
                return problem
        return None
    if hasattr(schema, "shape") and not isinstance(schema, type):
        if not isinstance(value, (np.ndarray, np.generic)):
            return f"{where} is {_kind_of(value)}, expected an array"
        if value.shape != tuple(schema.shape):
            return f"{where} has shape {value.shape}, expected {tuple(schema.shape)}"
        return None
    types = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(value, bool) and bool not in types and object not in types:
        return f"{where} is a bool, expected {_names(types)}"
    if not isinstance(value, types):
        return f"{where} is {_kind_of(value)}, expected {_names(types)}"
    return None


def _kind_of(value):
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _names(types):
    return " or ".join(f"{'an' if t.__name__[0] in 'aeiou' else 'a'} {t.__name__}" for t in types)
