"""Splitting, standardising and encoding NumPy arrays of features and labels."""

import numpy as np

__all__ = ["train_test_split", "Standardizer", "standardize", "one_hot"]


def train_test_split(x, y, test_size=0.2, seed=0, stratify=True):
    """Split ``x`` and ``y`` into shuffled train and test parts.

    With ``stratify=True`` each class is shuffled and split on its own, so every
    class keeps its proportion to within one sample, and a class with at least two
    samples appears in both parts (a class with one sample goes to train). The test
    part holds ``round(test_size * len(y))`` samples unless that would leave a class
    out. The same ``seed`` always gives the same split.

    Returns ``(x_train, x_test, y_train, y_test)``, the order scikit-learn uses.

    >>> x = np.arange(20).reshape(10, 2)
    >>> y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    >>> x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4)
    >>> x_train.shape, x_test.shape
    ((6, 2), (4, 2))
    >>> np.bincount(y_test)
    array([2, 2])
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"train_test_split: x and y need the same number of samples, got shapes "
            f"{x.shape} and {y.shape}"
        )
    if not 0 < test_size < 1:
        raise ValueError(f"train_test_split: test_size must be in (0, 1), got {test_size}")
    if len(y) < 2:
        raise ValueError(f"train_test_split: need at least 2 samples, got {len(y)}")

    rng = np.random.default_rng(seed)
    if stratify:
        train_idx, test_idx = _stratified_indices(y, test_size, rng)
    else:
        n_test = min(max(round(test_size * len(y)), 1), len(y) - 1)
        order = rng.permutation(len(y))
        train_idx, test_idx = order[n_test:], order[:n_test]
    # Mix the classes so that neither part comes out sorted by label.
    train_idx = rng.permutation(train_idx)
    test_idx = rng.permutation(test_idx)
    return x[train_idx], x[test_idx], y[train_idx], y[test_idx]


def _stratified_indices(y, test_size, rng):
    classes, labels = np.unique(y, return_inverse=True)
    counts = np.bincount(labels.ravel(), minlength=len(classes))

    # Largest-remainder rounding: each class gets the floor of its share, and the
    # samples still missing from round(test_size * n) go to the largest remainders.
    ideal = counts * test_size
    n_test = np.floor(ideal).astype(np.int64)
    missing = round(test_size * len(y)) - int(n_test.sum())
    by_remainder = np.argsort(-(ideal - n_test), kind="stable")
    n_test[by_remainder[:missing]] += 1
    # Keep every class with two or more samples on both sides of the split.
    n_test = np.where(counts >= 2, np.clip(n_test, 1, counts - 1), 0)

    train_parts, test_parts = [], []
    for cls, k in enumerate(n_test):
        members = rng.permutation(np.flatnonzero(labels.ravel() == cls))
        test_parts.append(members[:k])
        train_parts.append(members[k:])
    return np.concatenate(train_parts), np.concatenate(test_parts)


class Standardizer:
    """Scale each feature to zero mean and unit variance, using statistics of the data
    given to :meth:`fit` (the training set only, so no test information leaks in).

    A feature whose standard deviation is at most ``min_std`` (a constant one, such as
    an always-blank pixel) is only centred: dividing by a tiny spread would turn
    rounding noise or a single rare value into huge inputs.

    >>> x_train = np.array([[1.0, 5.0], [3.0, 5.0]])
    >>> scaler = Standardizer().fit(x_train)
    >>> scaler.transform(x_train)
    array([[-1.,  0.],
           [ 1.,  0.]])
    >>> restored = Standardizer.from_state_dict(scaler.state_dict())
    >>> restored.transform(np.array([[2.0, 6.0]]))
    array([[0., 1.]])
    """

    def __init__(self, min_std=1e-12):
        self.min_std = min_std
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x, axis=0):
        """Compute the mean and standard deviation of ``x`` over ``axis``; returns self.

        ``axis`` must include the sample axis 0. The default gives one mean per feature;
        ``axis=(0, 2, 3)`` on NCHW images gives one per channel. The statistics are
        repeated to the shape of one sample, so :meth:`transform` takes data laid out
        like ``x`` either way. They are accumulated in float64 over blocks of samples,
        so a large float32 array is never copied whole.

        >>> images = np.array([[[[0.0, 2.0]], [[1.0, 1.0]]]])      # 1 x 2 x 1 x 2
        >>> Standardizer().fit(images, axis=(0, 2, 3)).mean
        array([[[1., 1.]],
        <BLANKLINE>
               [[1., 1.]]])
        """
        x = np.asarray(x)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"Standardizer.fit: need at least one sample, got shape {x.shape}")
        axes = tuple(sorted(a % x.ndim for a in np.atleast_1d(axis)))
        if 0 not in axes:
            raise ValueError(f"Standardizer.fit: axis must include the sample axis 0, got {axis}")
        count = np.prod([x.shape[a] for a in axes])
        total = sum(block.sum(axis=axes, keepdims=True, dtype=np.float64) for block in _blocks(x))
        mean = total / count
        squares = sum(np.square(block - mean).sum(axis=axes, keepdims=True) for block in _blocks(x))
        std = np.sqrt(squares / count)
        self.mean = np.broadcast_to(mean[0], x.shape[1:]).copy()
        self.std = np.broadcast_to(np.where(std > self.min_std, std, 1.0)[0], x.shape[1:]).copy()
        return self

    def transform(self, x):
        """Return ``(x - mean) / std``; floating inputs keep their dtype."""
        if self.mean is None:
            raise RuntimeError("Standardizer.transform: call fit() or load a state first")
        x = np.asarray(x)
        if x.shape[1:] != self.mean.shape:
            raise ValueError(
                f"Standardizer.transform: fitted on features of shape {self.mean.shape}, "
                f"got data of shape {x.shape}"
            )
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        return ((x - self.mean) / self.std).astype(dtype, copy=False)

    def fit_transform(self, x):
        """Fit on ``x`` and return it transformed."""
        return self.fit(x).transform(x)

    def inverse_transform(self, x):
        """Map standardised values back to the original scale."""
        if self.mean is None:
            raise RuntimeError("Standardizer.inverse_transform: call fit() or load a state first")
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        return (x * self.std + self.mean).astype(dtype, copy=False)

    def state_dict(self):
        """The fitted statistics as plain float64 arrays (``mean`` and ``std``)."""
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer.state_dict: call fit() first")
        return {"mean": self.mean.copy(), "std": self.std.copy()}

    def load_state_dict(self, state):
        """Restore statistics saved by :meth:`state_dict`."""
        mean = np.array(state["mean"], dtype=np.float64)
        std = np.array(state["std"], dtype=np.float64)
        if mean.shape != std.shape:
            raise ValueError(
                f"Standardizer.load_state_dict: mean {mean.shape} and std {std.shape} differ "
                "in shape"
            )
        if not np.all(std > 0):
            raise ValueError("Standardizer.load_state_dict: std must be positive")
        self.mean, self.std = mean, std

    @classmethod
    def from_state_dict(cls, state):
        """Build a fitted Standardizer from :meth:`state_dict` output."""
        scaler = cls()
        scaler.load_state_dict(state)
        return scaler

    def __repr__(self):
        shape = None if self.mean is None else self.mean.shape
        return f"Standardizer(features={shape})"


def _blocks(x, elements=1 << 22):
    """Consecutive slices of ``x`` along axis 0, each about ``elements`` values."""
    step = max(1, elements // max(1, x[0].size))
    return (x[i : i + step] for i in range(0, len(x), step))


def standardize(x_train, x_test):
    """Standardise both arrays with statistics of ``x_train`` only.

    >>> x_train, x_test = standardize(np.array([[0.0], [2.0]]), np.array([[4.0]]))
    >>> x_train.ravel(), x_test.ravel()
    (array([-1.,  1.]), array([3.]))
    """
    scaler = Standardizer().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test)


def one_hot(y, num_classes=None, dtype=np.float32):
    """Encode integer labels as rows of an identity matrix (last axis = class).

    ``num_classes`` defaults to ``max(y) + 1``.

    >>> one_hot(np.array([0, 2, 1]), 3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"one_hot: labels must be integers, got dtype {y.dtype}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"one_hot: labels must lie in [0, {num_classes}), got range [{y.min()}, {y.max()}]"
        )
    return np.eye(num_classes, dtype=dtype)[y]
