"""Mini-batch iteration over NumPy arrays, resumable from a checkpoint."""

import copy

import numpy as np

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over ``(xb, yb)`` mini-batches (or ``xb`` alone when ``y`` is None).

    With ``shuffle=True`` every pass draws a fresh order from one generator seeded
    once with ``seed``, so a given seed always yields the same sequence of epochs.
    ``len(loader)`` is the number of batches per epoch; with ``drop_last=True`` a
    final short batch is skipped. ``epoch`` counts completed passes.

    :meth:`state_dict` may be taken between epochs or in the middle of one; a loader
    given it through :meth:`load_state_dict` continues with exactly the batches the
    original would have produced next. Run one pass at a time per loader.

    >>> x = np.arange(10).reshape(5, 2)
    >>> loader = DataLoader(x, np.arange(5), batch_size=2, shuffle=False)
    >>> len(loader)
    3
    >>> [yb.tolist() for _, yb in loader]
    [[0, 1], [2, 3], [4]]
    >>> shuffled = DataLoader(x, batch_size=2, seed=0)
    >>> sorted(row for xb in shuffled for row in xb[:, 0].tolist())
    [0, 2, 4, 6, 8]
    """

    def __init__(self, x, y=None, batch_size=32, shuffle=True, seed=0, drop_last=False):
        self.x = np.asarray(x)
        self.y = None if y is None else np.asarray(y)
        if self.x.ndim == 0:
            raise ValueError("DataLoader: x must have a leading sample axis, got a scalar")
        if self.y is not None and (self.y.ndim == 0 or len(self.y) != len(self.x)):
            raise ValueError(
                f"DataLoader: x and y need the same number of samples, got shapes "
                f"{self.x.shape} and {self.y.shape}"
            )
        is_int = isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
        if not is_int or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0
        self._rng = np.random.default_rng(seed)
        # Generator state before the in-progress epoch drew its order (None between
        # epochs) and how many of that epoch's batches have been handed out: together
        # they let a checkpoint taken mid-epoch replay the same order.
        self._epoch_start_state = None
        self._position = 0
        # Batches to skip at the start of the next pass, set when resuming mid-epoch.
        self._resume_at = 0

    @property
    def num_samples(self):
        return len(self.x)

    def __len__(self):
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __iter__(self):
        start_state = self._rng.bit_generator.state
        if self.shuffle:
            order = self._rng.permutation(self.num_samples)
        else:
            order = np.arange(self.num_samples)
        first, self._resume_at = self._resume_at, 0
        self._epoch_start_state = start_state
        self._position = first
        try:
            for b in range(first, len(self)):
                index = order[b * self.batch_size:(b + 1) * self.batch_size]
                # Count the batch as consumed before handing it out, so a checkpoint
                # saved after training on it resumes with the next one.
                self._position = b + 1
                if self.y is None:
                    yield self.x[index]
                else:
                    yield self.x[index], self.y[index]
            self.epoch += 1
        finally:
            # Also reached when a loop breaks early: the epoch is abandoned and the
            # next pass draws a new order, just as an uninterrupted run would.
            self._epoch_start_state = None
            self._position = 0

    def state_dict(self):
        """Plain, JSON-serialisable dict of the shuffle generator state and position."""
        if self._epoch_start_state is None:
            rng_state, batch = self._rng.bit_generator.state, 0
        else:
            rng_state, batch = self._epoch_start_state, self._position
        return {
            "rng_state": copy.deepcopy(rng_state),
            "epoch": int(self.epoch),
            "batch": int(batch),
            "num_samples": int(self.num_samples),
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state):
        """Resume from :meth:`state_dict` output; the data and batch size must match."""
        for key in ("num_samples", "batch_size"):
            mine = getattr(self, key)
            if state[key] != mine:
                raise ValueError(
                    f"DataLoader.load_state_dict: saved {key}={state[key]} but this loader "
                    f"has {key}={mine}"
                )
        if not 0 <= state["batch"] < max(len(self), 1):
            raise ValueError(
                f"DataLoader.load_state_dict: batch {state['batch']} out of range for "
                f"{len(self)} batches per epoch"
            )
        self._rng.bit_generator.state = copy.deepcopy(state["rng_state"])
        self.epoch = int(state["epoch"])
        self._resume_at = int(state["batch"])
        self._epoch_start_state = None
        self._position = 0

    def __repr__(self):
        return (
            f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, epoch={self.epoch})"
        )
