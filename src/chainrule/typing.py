"""Type aliases used in chainrule's annotations (and useful in code that calls it).

``ArrayLike`` (what NumPy reads as an array: ndarrays, numbers, nested sequences),
``DTypeLike`` and ``NDArray`` are NumPy's own, re-exported.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule.typing import TensorLike
>>> def total(x: TensorLike) -> cr.Tensor:
...     return cr.tensor(x).sum()
>>> total(np.ones(3)).item()
3.0
"""

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike as ArrayLike
from numpy.typing import DTypeLike as DTypeLike
from numpy.typing import NDArray as NDArray

from .tensor import Tensor

__all__ = [
    "Array",
    "ArrayLike",
    "Axis",
    "DTypeLike",
    "NDArray",
    "Seed",
    "ShapeLike",
    "TensorLike",
]

#: An ndarray of any dtype: what the plain-array path (ops handed ndarrays) returns.
Array: TypeAlias = NDArray[Any]
#: A Tensor or anything NumPy reads as an array (ops and modules accept both).
TensorLike: TypeAlias = Tensor | ArrayLike
#: A reduction's ``axis``: one axis, several, or None for all of them.
Axis: TypeAlias = int | tuple[int, ...] | None
#: A shape: one length or a sequence of lengths.
ShapeLike: TypeAlias = int | Sequence[int]
#: What ``rng=`` accepts: a seed, a NumPy Generator, or None for chainrule's default one.
Seed: TypeAlias = int | np.random.Generator | None
