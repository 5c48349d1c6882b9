"""Mini-batch iteration over NumPy arrays, resumable from a checkpoint."""

import copy

import numpy as np

from .augment import random_crop, random_hflip

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

    Augmentation (off by default) needs NCHW images and changes each batch handed out,
    never ``x`` itself: ``crop_padding=p`` pads every image with ``p`` zeros and cuts a
    random window of the original size back out (see :func:`random_crop`), and
    ``hflip=True`` mirrors half of the images left-right. The random draws come from the
    loader's seed, so they are the same on every run and after a resume.

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

    def __init__(
        self,
        x,
        y=None,
        batch_size=32,
        shuffle=True,
        seed=0,
        drop_last=False,
        crop_padding=0,
        hflip=False,
    ):
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
        is_int = isinstance(crop_padding, (int, np.integer)) and not isinstance(crop_padding, bool)
        if not is_int or crop_padding < 0:
            raise ValueError(
                f"DataLoader: crop_padding must be a non-negative int, got {crop_padding!r}"
            )
        if (crop_padding or hflip) and self.x.ndim != 4:
            raise ValueError(
                f"DataLoader: crop_padding and hflip need NCHW images (4-D x), got x of shape "
                f"{self.x.shape}; load images with flatten=False"
            )
        self.crop_padding = int(crop_padding)
        self.hflip = bool(hflip)
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
        augment_key = None
        if self.crop_padding or self.hflip:
            # Drawn only when augmenting, so plain loaders keep their shuffle sequence.
            # Each batch's draws come from (key, batch number): a resume that skips
            # batches still gives the next ones the same crops and flips.
            augment_key = int(self._rng.integers(2**63))
        first, self._resume_at = self._resume_at, 0
        self._epoch_start_state = start_state
        self._position = first
        try:
            for b in range(first, len(self)):
                index = order[b * self.batch_size : (b + 1) * self.batch_size]
                # Count the batch as consumed before handing it out, so a checkpoint
                # saved after training on it resumes with the next one.
                self._position = b + 1
                xb = self.x[index]
                if augment_key is not None:
                    xb = self._augment(xb, np.random.default_rng([augment_key, b]))
                yield xb if self.y is None else (xb, self.y[index])
            self.epoch += 1
        finally:
            # Also reached when a loop breaks early: the epoch is abandoned and the
            # next pass draws a new order, just as an uninterrupted run would.
            self._epoch_start_state = None
            self._position = 0

    def _augment(self, xb, rng):
        if self.crop_padding:
            xb = random_crop(xb, self.crop_padding, rng)
        if self.hflip:
            xb = random_hflip(xb, rng)
        return xb

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
        augment = ""
        if self.crop_padding or self.hflip:
            augment = f", crop_padding={self.crop_padding}, hflip={self.hflip}"
        return (
            f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}{augment}, epoch={self.epoch})"
        )
