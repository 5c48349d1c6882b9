"""Checkpoints under faults: crafted and damaged files, killed and concurrent writers.

Every malformed file must load correctly or raise ``cr.CheckpointError`` naming the
file, without allocating much more than the file's size; a writer killed mid-save must
not leave its temporary file behind for the next save.
"""

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule import serialization
from chainrule.serialization import load, save

from test_serialization import assert_same, nested_state, temporaries


# --------------------------------------------------------------------- crafting


def npy(array, shape=None):
    """The ``.npy`` bytes of ``array``, optionally with another shape in the header."""
    out = io.BytesIO()
    np.save(out, array)
    data = out.getvalue()
    if shape is not None:
        length = struct.unpack("<H", data[8:10])[0]
        header = data[10 : 10 + length].decode("latin-1").replace(repr(array.shape), repr(shape))
        header = (header.rstrip().ljust(length - 1) + "\n").encode("latin-1")
        assert len(header) == length
        data = data[:10] + header + data[10 + length :]
    return data


def metadata(tree, arrays, **changes):
    meta = {
        "format": "chainrule-checkpoint",
        "version": 1,
        "tree": tree,
        "sha256": serialization._checksum(tree, arrays),
        **changes,
    }
    return npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def archive(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def load_traced(path):
    """``(result or CheckpointError, peak bytes allocated)`` of loading ``path``."""
    tracemalloc.start()
    try:
        try:
            outcome = load(path)
        except cr.CheckpointError as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused(path, *fragments):
    """Check that loading ``path`` is refused cheaply, naming the file; the message."""
    outcome, peak = load_traced(path)
    assert isinstance(outcome, cr.CheckpointError), outcome
    message = str(outcome)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message
    assert peak < 4 * os.path.getsize(path) + (1 << 20), (peak, message)
    return message


W = np.zeros(100_000)  # 0.8 MB
TREE = {"t": "dict", "k": ["w"], "v": [{"t": "array", "i": 0}]}


# -------------------------------------------------------------- declared sizes


def test_an_entry_declaring_80_terabytes(tmp_path):
    path = archive(
        tmp_path / "c.npz",
        {"a0.npy": npy(W, shape=(10**13,)), "__chainrule__.npy": metadata(TREE, [W])},
    )
    refused(path, "80000000000000 bytes")


def test_a_small_file_declaring_an_array_of_1_5_gigabytes(tmp_path):
    path = archive(
        tmp_path / "c.npz",
        {"a0.npy": npy(W, shape=(200_000_000,)), "__chainrule__.npy": metadata(TREE, [W])},
    )
    assert os.path.getsize(path) < 1_000_000
    refused(path, "1600000000 bytes")


def test_negative_and_elementless_shapes(tmp_path):
    for shape in ((-1, 0), (-5,), (0, 10**18)):
        path = archive(
            tmp_path / "c.npz",
            {
                "a0.npy": npy(np.zeros(0), shape=shape),
                "__chainrule__.npy": metadata(TREE, [np.zeros(0)]),
            },
        )
        outcome, _ = load_traced(path)
        assert isinstance(outcome, cr.CheckpointError) or outcome["w"].size == 0


def test_central_directory_declaring_more_than_the_file(tmp_path):
    path = tmp_path / "c.npz"
    save({"w": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    record = data.index(b"PK\x01\x02")
    struct.pack_into("<II", data, record + 20, 0x7FFF0000, 0x7FFF0000)  # both sizes, 2 GB
    path.write_bytes(bytes(data))
    refused(path, "declares 2147418112 bytes")


def test_entries_overlapping_the_same_data(tmp_path):
    # 300 directory records all pointing at one 400 kB entry: 120 MB if each were read.
    count = 300
    tree = {"t": "list", "v": [{"t": "array", "i": i} for i in range(count)]}
    w = np.zeros(50_000)
    path = archive(
        tmp_path / "c.npz", {"a0.npy": npy(w), "__chainrule__.npy": metadata(tree, [w] * count)}
    )
    data = path.read_bytes()
    start, end = data.index(b"PK\x01\x02"), data.index(b"PK\x05\x06")
    first = data[start : data.index(b"PK\x01\x02", start + 4)]
    name_length = struct.unpack("<H", first[28:30])[0]
    copies = [
        first[:28] + struct.pack("<H", len(name)) + first[30:46] + name + first[46 + name_length :]
        for name in (f"a{i}.npy".encode() for i in range(1, count))
    ]
    directory = data[start:end] + b"".join(copies)
    tail = bytearray(data[end:])
    struct.pack_into("<HHII", tail, 8, count + 1, count + 1, len(directory), start)
    path.write_bytes(data[:start] + directory + bytes(tail))
    refused(path, "entries declare")


# ------------------------------------------------------------- zip-level damage


@pytest.mark.parametrize("signature, offset", [(b"PK\x01\x02", 10), (b"PK\x03\x04", 8)])
def test_every_bit_of_the_compression_method_flipped(tmp_path, signature, offset):
    path = tmp_path / "c.npz"
    state = {"w": np.arange(1000.0), "x": 1}
    save(state, path)
    good = path.read_bytes()
    for bit in range(16):
        data = bytearray(good)
        data[good.index(signature) + offset + bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(data))
        outcome, _ = load_traced(path)
        if isinstance(outcome, cr.CheckpointError):
            assert "compression method" in str(outcome)
        else:  # zipfile reads the method from the central directory only
            assert signature == b"PK\x03\x04"
            assert_same(outcome, state)


def test_compressed_encrypted_duplicate_and_unexpected_entries(tmp_path):
    w = np.arange(10.0)
    tree = {"t": "list", "v": [{"t": "array", "i": 0}]}
    entries = {"a0.npy": npy(w), "__chainrule__.npy": metadata(tree, [w])}
    refused(
        archive(tmp_path / "deflated.npz", entries, zipfile.ZIP_DEFLATED), "compression method 8"
    )

    path = archive(tmp_path / "encrypted.npz", entries)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + offset] |= 1
    path.write_bytes(bytes(data))
    refused(path, "encrypted")

    refused(archive(tmp_path / "twice.npz", {**entries, "a0": npy(w)}), "duplicate entries")
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(tmp_path / "same.npz", "w") as z:
            for name, data in [*entries.items(), ("a0.npy", npy(w + 1))]:
                z.writestr(name, data)
    refused(tmp_path / "same.npz", "duplicate entries")
    refused(
        archive(tmp_path / "extra.npz", {**entries, "notes.txt": b"hi"}),
        "unexpected entry 'notes.txt'",
    )
    refused(archive(tmp_path / "gap.npz", {"a2.npy": npy(w), **entries}), "unexpected entry 'a2'")


def test_npy_headers_of_other_versions_and_sizes(tmp_path):
    tree = {"t": "list", "v": [{"t": "array", "i": 0}]}
    w = np.arange(3.0)
    meta = metadata(tree, [w])
    v3 = bytearray(npy(w))
    v3[6] = 3
    refused(
        archive(tmp_path / "v3.npz", {"a0.npy": bytes(v3), "__chainrule__.npy": meta}),
        "format version (3, 0)",
    )
    huge_header = b"\x93NUMPY\x02\x00" + struct.pack("<I", 200_000) + b" " * 200_000
    refused(
        archive(tmp_path / "h.npz", {"a0.npy": huge_header, "__chainrule__.npy": meta}), "corrupted"
    )
    structured = np.zeros(2, dtype=[("x", "<f8"), ("y", "<i4")])
    path = tmp_path / "s.npz"
    save({"s": structured}, path)
    assert_same(load(path)["s"], structured)
    with pytest.raises(TypeError, match="Latin-1"):
        save({"s": np.zeros(2, dtype=[("\u03b1", "<f8")])}, tmp_path / "greek.npz")


# ----------------------------------------------------------------- metadata damage


def test_metadata_nested_100_000_deep(tmp_path):
    text = ("[" * 100_000 + "]" * 100_000).encode()
    path = archive(tmp_path / "c.npz", {"__chainrule__.npy": npy(np.frombuffer(text, np.uint8))})
    refused(path, "nested too deeply")


def test_tree_nested_too_deeply_even_with_a_valid_checksum(tmp_path):
    tree = {"t": "json", "v": 1}
    for _ in range(serialization.MAX_DEPTH + 1):
        tree = {"t": "list", "v": [tree]}
    path = archive(tmp_path / "c.npz", {"__chainrule__.npy": metadata(tree, [])})
    refused(path, "nested more than 100 levels")


@pytest.mark.parametrize(
    "tree, fragment",
    [
        ({"t": "array", "i": 5}, "array index 5 out of range"),
        ({"t": "array", "i": True}, "array index True out of range"),
        ({"t": "scalar", "i": -1}, "out of range"),
        ({"t": "pickle", "v": 1}, "malformed node"),
        ({"t": "json", "v": [[[1]]]}, "not a number, string"),
        ({"t": "json", "v": 1, "extra": [[[[[]]]]]}, "malformed node"),
        ({"t": "dict", "k": ["a", "b"], "v": [{"t": "json", "v": 1}]}, "keys do not match"),
        ({"t": "dict", "k": [None], "v": [{"t": "json", "v": 1}]}, "not a str or an int"),
        ({"t": "dict", "k": [[1]], "v": [{"t": "json", "v": 1}]}, "not a str or an int"),
        ({"t": "dict", "k": ["a", "a"], "v": [{"t": "json", "v": 1}] * 2}, "repeated key"),
        ({"t": "list", "v": {"a": 1}}, "without a list of values"),
        ({"t": ["list"], "v": []}, "malformed node"),
        ([1, 2], "malformed node"),
        (None, "malformed node"),
    ],
)
def test_malformed_trees_with_valid_checksums(tmp_path, tree, fragment):
    w = np.zeros(2)
    path = archive(tmp_path / "c.npz", {"a0.npy": npy(w), "__chainrule__.npy": metadata(tree, [w])})
    refused(path, "corrupted checkpoint structure", fragment)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"version": [[[[2]]]]}, "version of type list is not supported"),
        ({"sha256": {"x": [1]}}, "checksum mismatch"),
        ({"format": None}, "not a chainrule checkpoint"),
    ],
)
def test_malformed_metadata_fields(tmp_path, changes, fragment):
    tree = {"t": "json", "v": 1}
    path = archive(tmp_path / "c.npz", {"__chainrule__.npy": metadata(tree, [], **changes)})
    refused(path, fragment)


def test_metadata_that_is_not_json_or_not_bytes(tmp_path):
    for raw in (
        np.frombuffer(b"\xff\xfe{", np.uint8),
        np.frombuffer(b"{'a': 1}", np.uint8),
        np.zeros((2, 2), np.uint8),
        np.arange(3.0),
        np.frombuffer(b"[]", np.uint8),
    ):
        path = archive(tmp_path / "c.npz", {"__chainrule__.npy": npy(raw)})
        refused(path)


# ------------------------------------------------------------------ random damage


def test_random_damage_is_refused_or_harmless(tmp_path):
    """300 seeded bit flips, byte changes and truncations of a valid checkpoint."""
    rng = np.random.default_rng(1616)
    state = nested_state()
    state["weights"] = rng.normal(size=(64, 64)).astype(np.float32)
    state["fortran"] = np.asfortranarray(rng.normal(size=(8, 5)))
    good_path = tmp_path / "good.npz"
    save(state, good_path)
    good = good_path.read_bytes()
    # The zip headers, the .npy headers and the metadata, where damage is subtle.
    marks = [
        i
        for signature in (
            b"PK\x03\x04",
            b"PK\x01\x02",
            b"PK\x05\x06",
            b"PK\x06\x06",
            b"PK\x06\x07",
            b"\x93NUMPY",
            b'{"format"',
        )
        for i in _occurrences(good, signature)
    ]
    path = tmp_path / "damaged.npz"
    counts = {"refused": 0, "loaded": 0}
    worst = 0
    for trial in range(300):
        data = bytearray(good)
        how = trial % 4
        if how == 0:  # bits flipped anywhere
            for _ in range(rng.integers(1, 4)):
                position = int(rng.integers(len(data)))
                data[position] ^= 1 << int(rng.integers(8))
        elif how == 1:  # a byte near a header set to anything
            position = min(len(data) - 1, int(rng.choice(marks)) + int(rng.integers(80)))
            data[position] = int(rng.integers(256))
        elif how == 2:  # a 1, 2, 4 or 8-byte field near a header set to an extreme
            width = int(rng.choice([1, 2, 4, 8]))
            position = min(len(data) - width, int(rng.choice(marks)) + int(rng.integers(60)))
            data[position : position + width] = bytes([int(rng.choice([0, 0x7F, 0xFF]))] * width)
        else:  # truncated, sometimes with junk after
            data = data[: int(rng.integers(len(data)))]
            if rng.random() < 0.3:
                data += rng.bytes(int(rng.integers(1, 200)))
        path.write_bytes(bytes(data))
        try:
            outcome, peak = load_traced(path)
        except Exception as exc:
            pytest.fail(f"trial {trial} (damage {how}) raised {type(exc).__name__}: {exc}")
        if isinstance(outcome, cr.CheckpointError):
            assert str(outcome).startswith(f"{path}: "), outcome
            counts["refused"] += 1
        else:
            assert_same(outcome, state)
            counts["loaded"] += 1
        worst = max(worst, peak / len(good))
        assert peak < 3 * len(good) + (256 << 10), (trial, how, peak, len(good))
    print(f"{counts}; largest peak {worst:.2f}x the file's {len(good)} bytes")
    assert counts["refused"] > 200


def _occurrences(data, needle):
    start = data.find(needle)
    while start != -1:
        yield start
        start = data.find(needle, start + 1)


def test_random_trees_with_valid_checksums_load_or_are_refused(tmp_path):
    """Seeded changes to the metadata tree, with the checksum made to match again."""
    rng = np.random.default_rng(16)
    junk = [
        None,
        True,
        -1,
        0,
        7,
        10**30,
        1.5,
        float("nan"),
        "",
        "t",
        [],
        {},
        [[[]]],
        {"t": "nope"},
        {"t": "array"},
        {"t": "dict", "k": [], "v": []},
        nested_list(300),
    ]
    arrays = [np.arange(3.0), np.ones((2, 2), np.float32)]
    base = {
        "t": "dict",
        "k": ["a", 1, "c"],
        "v": [
            {"t": "array", "i": 0},
            {"t": "list", "v": [{"t": "scalar", "i": 1}, {"t": "json", "v": "x"}]},
            {"t": "tuple", "v": []},
        ],
    }
    path = tmp_path / "c.npz"
    for trial in range(100):
        tree = json.loads(json.dumps(base))
        nodes = list(_nodes(tree))
        node = nodes[int(rng.integers(len(nodes)))]
        field = list(node)[int(rng.integers(len(node)))]
        node[field] = junk[int(rng.integers(len(junk)))]
        archive(
            path,
            {
                "a0.npy": npy(arrays[0]),
                "a1.npy": npy(arrays[1]),
                "__chainrule__.npy": metadata(tree, arrays),
            },
        )
        try:
            load(path)
        except cr.CheckpointError as exc:
            assert str(exc).startswith(f"{path}: ")
        except Exception as exc:
            pytest.fail(
                f"trial {trial}: {field}={node[field]!r:.60} raised {type(exc).__name__}: {exc}"
            )


def nested_list(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def _nodes(tree):
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("v", []) if node["t"] in ("dict", "list", "tuple") else [])


# --------------------------------------------------------- killed and concurrent writers

WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from chainrule import serialization

    def write_half_then_wait(f, tree, arrays):
        f.write(b"PK\\x03\\x04" + bytes(100_000))
        f.flush()
        print("writing", flush=True)
        time.sleep(600)

    serialization._write_archive = write_half_then_wait
    serialization.save({"w": np.ones(10)}, sys.argv[1])
""")


def start_writer(path):
    """A process stopped in the middle of saving to ``path``, once it has written."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    if process.stdout.readline() != "writing\n":
        process.kill()
        process.wait(timeout=60)
        pytest.fail("the writer did not start")
    return process


def test_temporary_files_of_killed_writers_are_removed_by_the_next_save(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1}, path)
    other = tmp_path / ".ckpt.npz.notes.chainrule-tmp"  # not a name save makes
    other.write_text("keep")
    writers = [start_writer(path) for _ in range(3)]
    try:
        live = temporaries(tmp_path)
        assert len(live) == 4  # three writers' files and the unrelated one
        assert all(name.startswith(".ckpt.npz.") for name in live)

        save({"epoch": 2}, path)  # the writers are alive: their files stay
        assert sorted(temporaries(tmp_path)) == sorted(live)
    finally:
        for writer in writers:
            writer.kill()  # SIGKILL: no cleanup runs in the writer
            writer.wait(timeout=60)
            writer.stdout.close()
    assert len(temporaries(tmp_path)) == 4 and load(path)["epoch"] == 2
    save({"epoch": 3}, path)
    assert temporaries(tmp_path) == [other.name]
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.npz", other.name])
    assert load(path)["epoch"] == 3


def test_stale_temporaries_of_other_files_are_left_alone(tmp_path):
    writer = start_writer(tmp_path / "a.npz")
    writer.kill()
    writer.wait(timeout=60)
    writer.stdout.close()
    (stale,) = temporaries(tmp_path)
    save({"x": 1}, tmp_path / "b.npz")
    save({"x": 1}, tmp_path / "a.n")
    assert temporaries(tmp_path) == [stale]
    save({"x": 1}, tmp_path / "a.npz")
    assert temporaries(tmp_path) == []


CONCURRENT = textwrap.dedent("""
    import sys
    import numpy as np
    from chainrule import serialization

    for step in range(int(sys.argv[2])):
        serialization.save({"writer": sys.argv[3], "step": step,
                            "w": np.full(20_000, step, np.float64)}, sys.argv[1])
""")


def test_concurrent_writers_never_lose_a_save(tmp_path):
    path = tmp_path / "ckpt.npz"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(path), "40", name],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b", "c")
    ]
    try:
        errors = [writer.communicate(timeout=300)[1] for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait(timeout=60)
    assert [writer.returncode for writer in writers] == [0, 0, 0], errors
    last = load(path)
    assert last["step"] == 39 and last["writer"] in "abc"
    assert os.listdir(tmp_path) == ["ckpt.npz"]
