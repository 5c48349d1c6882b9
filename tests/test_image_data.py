"""Image data: MNIST / Fashion-MNIST IDX files and CIFAR-10's binary version read from
tiny files written here in those exact formats, NCHW layout, and the loader's seeded
crop and flip augmentation."""

import gzip
import json
import os
import socket

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.data import (
    DataLoader,
    DatasetFileError,
    Standardizer,
    load_dataset,
    random_crop,
    random_hflip,
    read_cifar10_batch,
    read_idx,
)

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_NAMES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)


def idx_bytes(array, ndim_code=None):
    """An IDX file of unsigned bytes: 0, 0, type 0x08, ndim, big-endian dims, data."""
    array = np.asarray(array, dtype=np.uint8)
    ndim = array.ndim if ndim_code is None else ndim_code
    return bytes([0, 0, 0x08, ndim]) + np.array(array.shape, ">u4").tobytes() + array.tobytes()


def write(path, data, gz=False):
    if gz:
        path = str(path) + ".gz"
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def make_idx_dir(directory, n_train=12, n_test=5, gz=False, seed=0):
    """The four MNIST files in ``directory``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        IDX_NAMES[0]: rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        IDX_NAMES[1]: rng.integers(0, 10, size=n_train, dtype=np.uint8),
        IDX_NAMES[2]: rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        IDX_NAMES[3]: rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    os.makedirs(directory, exist_ok=True)
    for name, array in arrays.items():
        write(os.path.join(directory, name), idx_bytes(array), gz=gz)
    return arrays


def cifar_bytes(images, labels):
    """Records of 1 label byte and 3072 pixel bytes (R, G, B planes of 32 x 32)."""
    images = np.asarray(images, dtype=np.uint8).reshape(len(labels), -1)
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], images], axis=1).tobytes()


def make_cifar_dir(directory, per_batch=3, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    written = {}
    for name in CIFAR_NAMES:
        n = n_test if name == "test_batch.bin" else per_batch
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write(os.path.join(directory, name), cifar_bytes(images, labels))
        written[name] = images, labels
    return written


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("loading image files tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --- MNIST and Fashion-MNIST IDX files --------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_files_give_the_official_split_raw(tmp_path, name, gz):
    arrays = make_idx_dir(tmp_path, gz=gz)
    ds = load_dataset(name, path=tmp_path, standardize=False, flatten=False)
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    assert ds.x_train.dtype == ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    # The files' order and split are kept; pixels k become k / 255 exactly (in float32).
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays[IDX_NAMES[0]] / np.float32(255))
    np.testing.assert_array_equal(ds.x_test[:, 0], arrays[IDX_NAMES[2]] / np.float32(255))
    np.testing.assert_array_equal(ds.y_train, arrays[IDX_NAMES[1]])
    np.testing.assert_array_equal(ds.y_test, arrays[IDX_NAMES[3]])
    assert ds.num_features == 784 and ds.num_classes == 10
    assert ds.image_shape == (1, 28, 28) and len(ds.classes) == 10
    assert ds.standardizer is None
    assert "12 train / 5 test (official split)" in ds.description
    assert str(tmp_path) in ds.description and "\n" not in ds.description


def test_idx_flatten_gives_rows_of_the_same_values(tmp_path):
    make_idx_dir(tmp_path)
    rows = load_dataset("mnist", path=tmp_path)
    images = load_dataset("mnist", path=tmp_path, flatten=False)
    assert rows.x_train.shape == (12, 784) and images.x_train.shape == (12, 1, 28, 28)
    np.testing.assert_array_equal(images.x_train.reshape(12, -1), rows.x_train)
    np.testing.assert_array_equal(images.x_test.reshape(5, -1), rows.x_test)
    # Each scaler transforms data laid out like its own x_train.
    assert rows.standardizer.mean.shape == (784,)
    assert images.standardizer.mean.shape == (1, 28, 28)
    np.testing.assert_array_equal(images.standardizer.mean.ravel(), rows.standardizer.mean)


def test_idx_standardised_on_train_only(tmp_path):
    make_idx_dir(tmp_path, n_train=40)
    raw = load_dataset("mnist", path=tmp_path, standardize=False, flatten=False)
    ds = load_dataset("mnist", path=tmp_path, flatten=False)
    expected = Standardizer(min_std=0.05).fit(raw.x_train.astype(np.float64))
    np.testing.assert_allclose(ds.standardizer.mean, expected.mean, rtol=1e-12)
    np.testing.assert_allclose(ds.standardizer.std, expected.std, rtol=1e-12)
    # float32 results of float64 arithmetic: agree to float32 rounding.
    np.testing.assert_allclose(
        ds.x_test, expected.transform(raw.x_test.astype(np.float64)), rtol=1e-6, atol=1e-6
    )
    assert ds.x_train.dtype == np.float32
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)
    assert "standardised on train" in ds.description


@pytest.mark.parametrize("flatten", [True, False])
def test_channel_standardisation(tmp_path, flatten):
    make_cifar_dir(tmp_path)
    raw = load_dataset("cifar10", path=tmp_path, standardize=False, flatten=False)
    ds = load_dataset("cifar10", path=tmp_path, standardize="channel", flatten=flatten)
    pixels = raw.x_train.astype(np.float64)
    mean, std = pixels.mean(axis=(0, 2, 3)), pixels.std(axis=(0, 2, 3))
    x = ds.x_train.reshape(raw.x_train.shape)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1, rtol=1e-5)
    expected = (raw.x_test - mean[:, None, None]) / std[:, None, None]
    np.testing.assert_allclose(ds.x_test.reshape(raw.x_test.shape), expected, rtol=1e-5, atol=1e-5)
    assert ds.standardizer.mean.shape == ds.x_train.shape[1:]
    assert "standardised per channel on train" in ds.description


def test_torchvision_layout_is_found(tmp_path):
    arrays = make_idx_dir(tmp_path / "FashionMNIST" / "raw", gz=True)
    ds = load_dataset("fashion_mnist", path=tmp_path, standardize=False)
    np.testing.assert_array_equal(ds.y_test, arrays[IDX_NAMES[3]])
    assert ds.classes[0] == "T-shirt/top"


def test_read_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write(tmp_path / "x-idx3-ubyte", idx_bytes(array), gz=True)
    out = read_idx(path, 3)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)


def test_gzip_detected_by_content_not_name(tmp_path):
    # A browser may unpack a download and keep its .gz name (or the other way round).
    arrays = make_idx_dir(tmp_path)
    os.rename(tmp_path / IDX_NAMES[3], tmp_path / (IDX_NAMES[3] + ".gz"))
    write(tmp_path / IDX_NAMES[1], gzip.compress(idx_bytes(arrays[IDX_NAMES[1]])))
    ds = load_dataset("mnist", path=tmp_path, standardize=False)
    np.testing.assert_array_equal(ds.y_train, arrays[IDX_NAMES[1]])
    np.testing.assert_array_equal(ds.y_test, arrays[IDX_NAMES[3]])


# --- what is wrong with a file, in one line naming it -----------------------------------


def _error(exc_type, *args, **kwargs):
    with pytest.raises(exc_type) as info:
        load_dataset(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("gz", [False, True])
def test_missing_files_are_listed(tmp_path, gz):
    make_idx_dir(tmp_path, gz=gz)
    os.remove(tmp_path / (IDX_NAMES[2] + (".gz" if gz else "")))
    message = _error(FileNotFoundError, "mnist", path=tmp_path)
    assert f"missing {IDX_NAMES[2]} in {str(tmp_path)!r}" in message
    assert all(name in message for name in IDX_NAMES)
    assert "plain or .gz" in message


def test_empty_or_absent_directory(tmp_path):
    message = _error(FileNotFoundError, "cifar10", path=tmp_path)
    assert f"in {str(tmp_path)!r}" in message
    assert all(name in message for name in CIFAR_NAMES)
    message = _error(FileNotFoundError, "mnist", path=tmp_path / "nowhere")
    assert "is not a directory" in message and "nowhere" in message


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("cut", [100, 7])
def test_truncated_idx_file(tmp_path, gz, cut):
    arrays = make_idx_dir(tmp_path)
    target = tmp_path / IDX_NAMES[0]
    data = idx_bytes(arrays[IDX_NAMES[0]])[:cut]
    os.remove(target)
    path = write(target, data, gz=gz)
    message = _error(DatasetFileError, "mnist", path=tmp_path)
    assert message.startswith(path) and "truncated" in message
    if cut == 100:
        assert f"{cut} bytes" in message and f"needs {16 + 12 * 784}" in message
        assert "12x28x28" in message


def test_truncated_gzip_stream(tmp_path):
    make_idx_dir(tmp_path, gz=True)
    path = tmp_path / (IDX_NAMES[0] + ".gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = _error(DatasetFileError, "mnist", path=tmp_path)
    assert message.startswith(str(path)) and "truncated or corrupt gzip data" in message


def test_corrupt_gzip_checksum(tmp_path):
    make_idx_dir(tmp_path, gz=True)
    path = tmp_path / (IDX_NAMES[3] + ".gz")
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 of the uncompressed data
    path.write_bytes(bytes(data))
    message = _error(DatasetFileError, "fashion_mnist", path=tmp_path)
    assert message.startswith(str(path)) and "gzip" in message


def test_trailing_bytes(tmp_path):
    arrays = make_idx_dir(tmp_path)
    write(tmp_path / IDX_NAMES[1], idx_bytes(arrays[IDX_NAMES[1]]) + b"\0")
    message = _error(DatasetFileError, "mnist", path=tmp_path)
    assert IDX_NAMES[1] in message and "trailing bytes" in message


def test_swapped_files_fail_on_the_magic_number(tmp_path):
    arrays = make_idx_dir(tmp_path)
    write(tmp_path / IDX_NAMES[0], idx_bytes(arrays[IDX_NAMES[1]]))
    message = _error(DatasetFileError, "mnist", path=tmp_path)
    assert IDX_NAMES[0] in message
    assert "magic number 0x00000801, expected 0x00000803" in message


def test_non_byte_idx_type_is_refused(tmp_path):
    arrays = make_idx_dir(tmp_path)
    data = bytearray(idx_bytes(arrays[IDX_NAMES[3]]))
    data[2] = 0x0D  # float32 values
    write(tmp_path / IDX_NAMES[3], bytes(data))
    message = _error(DatasetFileError, "mnist", path=tmp_path)
    assert "magic number 0x00000D01" in message


def test_wrong_image_size(tmp_path):
    make_idx_dir(tmp_path)
    write(tmp_path / IDX_NAMES[2], idx_bytes(np.zeros((5, 32, 32))))
    message = _error(DatasetFileError, "mnist", path=tmp_path)
    assert IDX_NAMES[2] in message and "32x32" in message and "28x28" in message


def test_label_count_must_match(tmp_path):
    make_idx_dir(tmp_path)
    write(tmp_path / IDX_NAMES[1], idx_bytes(np.zeros(11)))
    message = _error(DatasetFileError, "mnist", path=tmp_path)
    assert "holds 11 labels" in message and "holds 12 images" in message


def test_label_out_of_range(tmp_path):
    arrays = make_idx_dir(tmp_path)
    labels = arrays[IDX_NAMES[3]].copy()
    labels[3] = 10
    write(tmp_path / IDX_NAMES[3], idx_bytes(labels))
    message = _error(DatasetFileError, "mnist", path=tmp_path)
    assert IDX_NAMES[3] in message and "label 10 at record 3 is outside 0..9" in message


# --- CIFAR-10 binary version ---------------------------------------------------------------


def test_cifar_batches_and_layout(tmp_path):
    written = make_cifar_dir(tmp_path)
    ds = load_dataset("cifar10", path=tmp_path, standardize=False, flatten=False)
    assert ds.x_train.shape == (15, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    train_images = np.concatenate([written[n][0] for n in CIFAR_NAMES[:5]])
    train_labels = np.concatenate([written[n][1] for n in CIFAR_NAMES[:5]])
    np.testing.assert_array_equal(ds.x_train, train_images / np.float32(255))
    np.testing.assert_array_equal(ds.y_train, train_labels)
    np.testing.assert_array_equal(ds.y_test, written["test_batch.bin"][1])
    assert ds.image_shape == (3, 32, 32) and ds.num_features == 3072
    assert ds.classes[0] == "airplane" and ds.augmentation["hflip"] is True
    rows = load_dataset("cifar10", path=tmp_path, standardize=False)
    np.testing.assert_array_equal(rows.x_test, ds.x_test.reshape(4, -1))


def test_cifar_record_byte_order(tmp_path):
    # Independently of the reader: pixel (c, h, w) is byte 1 + 1024 c + 32 h + w.
    record = np.arange(3073) % 251
    record[0] = 7
    path = write(tmp_path / "one.bin", record.astype(np.uint8).tobytes())
    images, labels = read_cifar10_batch(path)
    assert labels.tolist() == [7]
    for c, h, w in [(0, 0, 0), (0, 0, 31), (0, 1, 0), (1, 0, 0), (2, 31, 31), (1, 17, 5)]:
        assert images[0, c, h, w] == record[1 + 1024 * c + 32 * h + w]


def test_cifar_found_inside_its_extracted_folder(tmp_path):
    written = make_cifar_dir(tmp_path / "cifar-10-batches-bin")
    ds = load_dataset("cifar10", path=tmp_path, standardize=False)
    np.testing.assert_array_equal(ds.y_test, written["test_batch.bin"][1])


def test_cifar_truncated_record(tmp_path):
    make_cifar_dir(tmp_path)
    path = tmp_path / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-1])
    message = _error(DatasetFileError, "cifar10", path=tmp_path)
    assert message.startswith(str(path))
    assert f"{3 * 3073 - 1} bytes is not a whole number of 3073-byte records" in message


def test_cifar_bad_label(tmp_path):
    make_cifar_dir(tmp_path)
    images = np.zeros((2, 3, 32, 32))
    write(tmp_path / "test_batch.bin", cifar_bytes(images, [3, 200]))
    message = _error(DatasetFileError, "cifar10", path=tmp_path)
    assert "test_batch.bin" in message and "label 200 at record 1" in message


def test_cifar_pickled_version_is_never_read(tmp_path):
    for i in range(1, 6):
        (tmp_path / f"data_batch_{i}").write_bytes(b"\x80\x04pickle")
    (tmp_path / "test_batch").write_bytes(b"\x80\x04pickle")
    message = _error(FileNotFoundError, "cifar10", path=tmp_path)
    assert "pickled Python version" in message and "data_batch_1.bin" in message


# --- options that do not fit ---------------------------------------------------------


def test_file_only_datasets_need_a_path():
    message = _error(ValueError, "fashion_mnist")
    assert "path=DIR" in message and "train-images-idx3-ubyte" in message
    message = _error(ValueError, "cifar10")
    assert "data_batch_1.bin" in message and "binary" in message


def test_bad_option_combinations(tmp_path):
    make_idx_dir(tmp_path)
    assert "test_size does not apply" in _error(ValueError, "mnist", path=tmp_path, test_size=0.3)
    assert "leave path out" in _error(ValueError, "iris", path=tmp_path)
    assert "flatten=False needs a dataset of images" in _error(ValueError, "iris", flatten=False)
    assert "standardize='channel'" in _error(ValueError, "breast_cancer", standardize="channel")
    assert "standardize must be" in _error(ValueError, "digits", standardize="pixel")


# --- the packaged datasets as images ---------------------------------------------------


@pytest.fixture(scope="module")
def packaged():
    """mnist (the offline subset) and digits, as rows and as images, loaded once."""
    return {
        (name, flatten): load_dataset(name, flatten=flatten)
        for name in ("mnist", "digits")
        for flatten in (True, False)
    }


@pytest.mark.parametrize(
    "name, shape, padding", [("mnist", (1, 28, 28), 2), ("digits", (1, 8, 8), 1)]
)
def test_packaged_images_in_nchw(packaged, name, shape, padding):
    rows, images = packaged[name, True], packaged[name, False]
    assert images.x_train.shape == (len(rows.x_train), *shape)
    assert images.x_train.dtype == np.float32
    # Same split, same standardisation semantics: only the layout differs.
    np.testing.assert_array_equal(images.x_train.reshape(rows.x_train.shape), rows.x_train)
    np.testing.assert_array_equal(images.x_test.reshape(rows.x_test.shape), rows.x_test)
    np.testing.assert_array_equal(images.y_train, rows.y_train)
    assert images.image_shape == rows.image_shape == shape
    # Digits are shifted but never mirrored.
    assert images.augmentation == {"crop_padding": padding, "hflip": False}


def test_mnist_subset_images_are_upright(packaged):
    # Rows of 28 pixels, top to bottom: a 1 is a vertical stroke, so in the mean image
    # of the ones the middle columns hold far more ink than the middle rows (0.32 and
    # 0.11 of full ink); an image transposed by a wrong reshape would swap them.
    ds = packaged["mnist", False]
    ones = ds.standardizer.inverse_transform(ds.x_train[ds.y_train == 1])[:, 0].mean(axis=0)
    assert ones[:, 12:16].mean() > 2 * ones[12:16, :].mean()


# --- augmentation ------------------------------------------------------------------------


def shifted(image, sy, sx):
    """Reference: out[h, w] = image[h + sy, w + sx], zero outside (pixel by pixel)."""
    _, height, width = image.shape
    out = np.zeros_like(image)
    for h in range(height):
        for w in range(width):
            if 0 <= h + sy < height and 0 <= w + sx < width:
                out[:, h, w] = image[:, h + sy, w + sx]
    return out


def shifts_matching(out, image, padding):
    return [
        (sy, sx)
        for sy in range(-padding, padding + 1)
        for sx in range(-padding, padding + 1)
        if np.array_equal(out, shifted(image, sy, sx))
    ]


def test_random_crop_is_a_shifted_copy_with_zero_padding():
    rng = np.random.default_rng(0)
    # Values 1..255: a zero can only come from the padding, so one shift fits each image.
    images = rng.integers(1, 256, size=(200, 2, 5, 6)).astype(np.float32)
    before = images.copy()
    out = random_crop(images, 2, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.float32
    np.testing.assert_array_equal(images, before)
    seen = set()
    for i in range(len(images)):
        matches = shifts_matching(out[i], images[i], 2)
        assert len(matches) == 1, f"image {i}"
        seen.add(matches[0])
    # 200 draws over 25 offsets: every one, the corners included, turns up.
    assert len(seen) == 25


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 4),
    c=st.integers(1, 3),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    padding=st.integers(0, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_crop_shapes_and_shifts(n, c, h, w, padding, seed):
    images = np.random.default_rng(seed).integers(1, 9, size=(n, c, h, w)).astype(np.float64)
    out = random_crop(images, padding, np.random.default_rng(seed))
    assert out.shape == images.shape and out.dtype == images.dtype
    for i in range(n):
        assert shifts_matching(out[i], images[i], padding)


def test_random_hflip_reverses_the_width_axis():
    images = np.random.default_rng(0).random((100, 3, 4, 5))
    out = random_hflip(images, np.random.default_rng(2))
    flipped = [np.array_equal(o, x[:, :, ::-1]) for o, x in zip(out, images)]
    kept = [np.array_equal(o, x) for o, x in zip(out, images)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 30 < sum(flipped) < 70  # about half: 51 for this seed
    np.testing.assert_array_equal(random_hflip(images, np.random.default_rng(2), p=0), images)
    np.testing.assert_array_equal(
        random_hflip(images, np.random.default_rng(2), p=1), images[..., ::-1]
    )


def test_augmentation_is_seeded():
    images = np.random.default_rng(0).random((50, 1, 8, 8))
    a = random_crop(images, 3, np.random.default_rng(5))
    b = random_crop(images, 3, np.random.default_rng(5))
    c = random_crop(images, 3, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_augmentation_needs_nchw():
    with pytest.raises(ValueError, match="random_crop: expected NCHW"):
        random_crop(np.zeros((2, 28, 28)), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="random_hflip: expected NCHW"):
        random_hflip(np.zeros((2, 784)), np.random.default_rng(0))


def _identified_images(n=24, size=6):
    """Images whose pixel values say which sample they are; labels are the sample ids."""
    rng = np.random.default_rng(3)
    x = rng.integers(1, 256, size=(n, 1, size, size)).astype(np.float32)
    return x, np.arange(n)


def _epochs(loader, count):
    return [[(xb.copy(), yb.copy()) for xb, yb in loader] for _ in range(count)]


def test_loader_crops_and_flips_each_batch():
    x, y = _identified_images()
    before = x.copy()
    loader = DataLoader(x, y, batch_size=5, seed=0, crop_padding=1, hflip=True)
    flips = 0
    for xb, yb in loader:
        for image, i in zip(xb, yb):
            plain = shifts_matching(image, x[i], 1)
            mirrored = shifts_matching(image[:, :, ::-1], x[i], 1)
            assert plain or mirrored
            flips += bool(mirrored)
    assert 0 < flips < len(x)
    np.testing.assert_array_equal(x, before)  # the dataset itself is never changed
    assert "crop_padding=1, hflip=True" in repr(loader)


def test_loader_batches_draw_their_own_crops():
    x, y = _identified_images()
    loader = DataLoader(x, y, batch_size=6, seed=0, crop_padding=1)
    offsets = [
        [shifts_matching(image, x[i], 1)[0] for image, i in zip(xb, yb)] for xb, yb in loader
    ]
    assert len(offsets) == 4
    assert len({tuple(batch) for batch in offsets}) == 4


def test_loader_augmentation_is_deterministic_and_varies_by_epoch():
    x, y = _identified_images()
    kwargs = {"batch_size": 8, "seed": 4, "crop_padding": 2, "hflip": True}
    a, b = _epochs(DataLoader(x, y, **kwargs), 3), _epochs(DataLoader(x, y, **kwargs), 3)
    for epoch_a, epoch_b in zip(a, b):
        for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    other = _epochs(DataLoader(x, y, **{**kwargs, "seed": 5}), 1)
    assert not np.array_equal(a[0][0][0], other[0][0][0])
    # A sample is cropped afresh each epoch, not once for the whole run.
    first = {int(i): img for xb, yb in a[0] for img, i in zip(xb, yb)}
    second = {int(i): img for xb, yb in a[1] for img, i in zip(xb, yb)}
    assert any(not np.array_equal(first[i], second[i]) for i in first)


def test_loader_without_shuffle_still_augments():
    x, y = _identified_images()
    batches = list(DataLoader(x, y, batch_size=24, shuffle=False, crop_padding=2))
    np.testing.assert_array_equal(batches[0][1], y)
    assert not np.array_equal(batches[0][0], x)


def test_loader_resume_replays_the_same_augmented_batches():
    x, y = _identified_images()
    kwargs = {"batch_size": 5, "crop_padding": 2, "hflip": True}
    reference = [
        batch for epoch in _epochs(DataLoader(x, y, seed=7, **kwargs), 3) for batch in epoch
    ]

    interrupted = DataLoader(x, y, seed=7, **kwargs)
    produced = _epochs(interrupted, 1)[0]
    for i, (xb, yb) in enumerate(interrupted):
        produced.append((xb.copy(), yb.copy()))
        if i == 1:
            state = json.loads(json.dumps(interrupted.state_dict()))
            break
    resumed = DataLoader(x, y, seed=123, **kwargs)
    resumed.load_state_dict(state)
    while len(produced) < len(reference):
        produced.extend(_epochs(resumed, 1)[0])
    for (xa, ya), (xb, yb) in zip(produced, reference):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)


def test_loader_off_by_default_keeps_batches_exact():
    x, y = _identified_images()
    plain = DataLoader(x, y, batch_size=5, seed=1)
    # The shuffle order is the one a loader without augmentation has always drawn.
    rng = np.random.default_rng(1)
    for _ in range(3):
        order = rng.permutation(len(x))
        batches = list(plain)
        np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), order)
        for xb, yb in batches:
            np.testing.assert_array_equal(xb, x[yb])
    assert "crop_padding" not in repr(plain)


def test_loader_augmentation_arguments():
    with pytest.raises(ValueError, match="need NCHW images .* flatten=False"):
        DataLoader(np.zeros((4, 784)), crop_padding=2)
    with pytest.raises(ValueError, match="need NCHW images"):
        DataLoader(np.zeros((4, 28, 28)), hflip=True)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="crop_padding must be a non-negative int"):
            DataLoader(np.zeros((4, 1, 5, 5)), crop_padding=bad)


def test_dataset_augmentation_feeds_the_loader(tmp_path):
    make_idx_dir(tmp_path, gz=True)
    ds = load_dataset("fashion_mnist", path=tmp_path, flatten=False)
    assert ds.augmentation == {"crop_padding": 2, "hflip": True}
    loader = DataLoader(ds.x_train, ds.y_train, batch_size=4, **ds.augmentation)
    xb, _ = next(iter(loader))
    assert xb.shape == (4, 1, 28, 28) and xb.dtype == np.float32
