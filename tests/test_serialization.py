"""Tests for chainrule.serialization: round trips, atomic writes and refused files."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule import serialization
from chainrule.serialization import load, save


def nested_state():
    rng = np.random.default_rng(0)
    return {
        "model": {"0.weight": rng.normal(size=(3, 2)).astype(np.float32),
                  "0.bias": rng.normal(size=3)},
        "optimizer": {"state": {0: {"step": 7, "exp_avg": np.zeros((3, 2), np.float32)}},
                      "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "amsgrad": False,
                                        "params": [0, 1]}]},
        "ints": np.arange(6, dtype=np.int64).reshape(2, 3),
        "small_ints": np.array([1, -2], dtype=np.int8),
        "flags": np.array([True, False]),
        "zero_d": np.array(2.5),
        "numpy_scalar": np.float32(1.25),
        "empty": np.zeros((0, 4), np.float32),
        "words": np.array(["relu", "tanh"]),
        "config": {"hidden": [128, 64], "dataset": "digits", "lr": None, "seed": 0},
        "history": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": float("inf")}],
        "rng": {"state": {"state": 2**127 + 3, "inc": 5}},
        "": "an empty key",
        "key/with.odd chars": 1,
    }


def assert_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_round_trip_keeps_structure_types_dtypes_and_shapes(tmp_path):
    state = nested_state()
    path = tmp_path / "state.npz"
    save(state, path)
    assert_same(load(path), state)
    assert load(str(path))["optimizer"]["state"][0]["step"] == 7  # int keys stay ints


def test_round_trip_of_lists_tuples_and_nan(tmp_path):
    for obj in ([1, "a", None, [np.ones(2)]], (1.5, True), {"nan": float("nan")}):
        save(obj, tmp_path / "x.npz")
        back = load(tmp_path / "x.npz")
        if isinstance(obj, dict):
            assert np.isnan(back["nan"])
        else:
            assert_same(back, obj)


def test_round_trip_of_optimizer_and_module_state(tmp_path):
    model = cr.nn.Sequential(cr.nn.Linear(4, 3, rng=0), cr.nn.ReLU(), cr.nn.Linear(3, 2, rng=1))
    optimizer = cr.optim.Adam(model.parameters(), lr=0.01)
    loss = cr.nn.CrossEntropyLoss()(model(cr.randn(5, 4)), np.array([0, 1, 1, 0, 1]))
    loss.backward()
    optimizer.step()
    save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "c.npz")
    saved = load(tmp_path / "c.npz")

    clone = cr.nn.Sequential(cr.nn.Linear(4, 3, rng=5), cr.nn.ReLU(), cr.nn.Linear(3, 2, rng=6))
    clone.load_state_dict(saved["model"])
    clone_optimizer = cr.optim.Adam(clone.parameters(), lr=0.5)
    clone_optimizer.load_state_dict(saved["optimizer"])
    for p, q in zip(model.parameters(), clone.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert clone_optimizer.param_groups[0]["lr"] == 0.01
    assert clone_optimizer.param_groups[0]["betas"] == (0.9, 0.999)


def test_saving_copies_the_arrays(tmp_path):
    weights = np.ones(3)
    save({"w": weights}, tmp_path / "w.npz")
    weights[0] = 5
    np.testing.assert_array_equal(load(tmp_path / "w.npz")["w"], np.ones(3))


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": np.array([{}, 1], dtype=object)},
                                 {1.5: 1}, {(1, 2): 1}, {"f": lambda: 0}])
def test_unstorable_values_raise_type_error_and_write_nothing(tmp_path, bad):
    with pytest.raises(TypeError, match="save:"):
        save(bad, tmp_path / "bad.npz")
    assert os.listdir(tmp_path) == []


def test_write_is_atomic_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    save({"epoch": 1, "w": np.zeros(1000)}, path)
    before = path.read_bytes()

    def write_half_then_fail(f, entries):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(serialization, "_write_npz", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save({"epoch": 2, "w": np.ones(1000)}, path)
    assert path.read_bytes() == before
    assert load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["checkpoint.npz"]  # no temporary file left behind


def test_interrupted_first_write_leaves_no_file(tmp_path, monkeypatch):
    def fail(f, entries):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_npz", fail)
    with pytest.raises(KeyboardInterrupt):
        save({"a": 1}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_written_file_has_ordinary_permissions(tmp_path):
    save({"a": 1}, tmp_path / "p.npz")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "p.npz").st_mode & 0o777 == 0o666 & ~umask


def check_refused(path, *fragments):
    with pytest.raises(cr.CheckpointError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_missing_file_and_directory(tmp_path):
    check_refused(tmp_path / "nope.npz", "not found")
    check_refused(tmp_path, "directory")


def test_checkpoint_error_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        load(tmp_path / "nope.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "c.npz"
    save(nested_state(), path)
    data = path.read_bytes()
    for size in (len(data) // 2, len(data) - 10, 10):
        path.write_bytes(data[:size])
        check_refused(path, "truncated or corrupted")


def test_flipped_byte_in_array_data(tmp_path):
    path = tmp_path / "c.npz"
    save({"w": np.zeros(256)}, path)
    data = bytearray(path.read_bytes())
    data[data.index(b"\x93NUMPY") + 200] ^= 0xFF  # inside the array's bytes
    path.write_bytes(bytes(data))
    check_refused(path, "corrupted")


def test_consistent_archive_with_changed_content_fails_the_checksum(tmp_path):
    # Rewrite the archive with valid zip CRCs but one array changed: only the
    # checksum stored in the metadata can notice.
    path = tmp_path / "c.npz"
    save({"w": np.zeros(3), "lr": 0.1}, path)
    with np.load(path) as npz:
        entries = {name: npz[name] for name in npz.files}
    entries["a0"] = np.array([0.0, 1.0, 0.0])
    np.savez(path, **entries)
    check_refused(path, "checksum mismatch")

    meta = json.loads(entries["__chainrule__"].tobytes())
    meta["tree"]["v"][1]["v"] = 10.0  # the learning rate
    entries["a0"] = np.zeros(3)
    entries["__chainrule__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **entries)
    check_refused(path, "checksum mismatch")


def test_foreign_files(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    check_refused(empty, "empty")

    text = tmp_path / "notes.npz"
    text.write_text("not a checkpoint at all")
    check_refused(text, "not an .npz archive")

    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(3))
    check_refused(npy, ".npy")

    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.arange(3))
    check_refused(plain, "not a chainrule checkpoint")

    other_zip = tmp_path / "other.npz"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    check_refused(other_zip, "not a chainrule checkpoint")


def test_pickle_is_never_loaded(tmp_path):
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(pickle.dumps({"w": np.arange(3)}))
    check_refused(pickled, "pickle")

    # An archive that looks like ours but carries an object (pickled) array.
    path = tmp_path / "objects.npz"
    save({"w": np.zeros(2)}, path)
    with np.load(path) as npz:
        entries = {name: npz[name] for name in npz.files}
    entries["a0"] = np.array([{"evil": 1}, None], dtype=object)
    np.savez(path, **entries)
    check_refused(path, "pickle")


def test_unsupported_format_version(tmp_path):
    path = tmp_path / "future.npz"
    save({"a": 1}, path)
    with np.load(path) as npz:
        entries = {name: npz[name] for name in npz.files}
    meta = json.loads(entries["__chainrule__"].tobytes())
    meta["version"] = 99
    entries["__chainrule__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **entries)
    check_refused(path, "version 99")


def test_docstring_examples_run():
    import doctest

    assert doctest.testmod(serialization).failed == 0
