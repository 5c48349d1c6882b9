"""Tensor methods follow PyTorch's: the same call on both gives the same values and gradients
(float64; both sides compute the same formulas, so only rounding separates them)."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
MATRIX = RNG.uniform(0.2, 0.9, (3, 4))  # inside every domain below (arcsin, log, ...)
SQUARE = RNG.uniform(0.2, 0.9, (3, 3))
OTHER = RNG.uniform(0.5, 1.5, (3, 4))

# (method, input, arguments); arguments that are arrays become tensors on both sides.
CASES = [
    (name, MATRIX, ())
    for name in (
        "tan",
        "sinh",
        "cosh",
        "arcsin",
        "arccos",
        "arctan",
        "arcsinh",
        "arctanh",
        "asin",
        "acos",
        "atan",
        "asinh",
        "atanh",
        "sinc",
        "deg2rad",
        "rad2deg",
        "exp2",
        "expm1",
        "log2",
        "log10",
        "rsqrt",
        "square",
        "reciprocal",
        "sign",
        "clone",
        "ravel",
        "fliplr",
        "flipud",
        "cumsum",
        "exp",
        "log",
        "sqrt",
        "tanh",
        "sigmoid",
        "relu",
        "abs",
        "sin",
        "cos",
    )
] + [
    ("arccosh", MATRIX + 1.5, ()),
    ("acosh", MATRIX + 1.5, ()),
    ("atan2", MATRIX, (OTHER,)),
    ("arctan2", MATRIX, (OTHER,)),
    ("hypot", MATRIX, (OTHER,)),
    ("logaddexp", MATRIX, (OTHER,)),
    ("logaddexp2", MATRIX, (OTHER,)),
    ("fmod", MATRIX, (OTHER,)),
    ("fmax", MATRIX, (OTHER,)),
    ("fmin", MATRIX, (OTHER,)),
    ("remainder", MATRIX, (OTHER,)),
    ("inner", MATRIX, (OTHER,)),
    ("kron", MATRIX, (OTHER,)),
    ("outer", MATRIX[0], (OTHER[0],)),
    ("dot", MATRIX[0], (OTHER[0],)),
    ("vdot", MATRIX[0], (OTHER[0],)),
    ("cross", MATRIX[:, :3], (OTHER[:, :3], 1)),
    ("tril", SQUARE, ()),
    ("triu", SQUARE, (1,)),
    ("diag", SQUARE, ()),
    ("diagonal", SQUARE, (1,)),
    ("trace", SQUARE, ()),
    ("cumsum", MATRIX, (1,)),
    ("cumprod", MATRIX, (0,)),
    ("diff", MATRIX, (1, 0)),
    ("repeat", MATRIX, (2, 1)),
    ("repeat_interleave", MATRIX, (2, 1)),
    ("tile", MATRIX, (2,)),
    ("roll", MATRIX, (1, 1)),
    ("flip", MATRIX, (0,)),
    ("rot90", MATRIX, (1, (0, 1))),
    ("movedim", MATRIX, (0, 1)),
    ("expand", MATRIX[:1], (4, 4)),
    ("nan_to_num", np.array([np.nan, 1.0, np.inf]), ()),
    ("det", SQUARE + 2 * np.eye(3), ()),
    ("inverse", SQUARE + 2 * np.eye(3), ()),
    ("pinverse", MATRIX, ()),
    ("matrix_power", SQUARE, (3,)),
    ("cholesky", SQUARE @ SQUARE.T + np.eye(3), ()),
    ("cholesky", SQUARE @ SQUARE.T + np.eye(3), (True,)),
    ("norm", MATRIX, ()),
    ("norm", MATRIX, (1, 1)),
    ("norm", MATRIX, (3, 0, True)),
    ("norm", MATRIX, ("fro", (0, 1))),
    ("norm", MATRIX, ("nuc", (0, 1))),
]


def _arg(value, library):
    if isinstance(value, np.ndarray):
        return (
            cr.tensor(value.copy(), requires_grad=True)
            if library is cr
            else torch.tensor(value, requires_grad=True)
        )
    return value


def _torch_call(name, x, args):
    if name in ("cumsum", "cumprod") and not args:
        return torch.cumsum(x.reshape(-1), 0)  # NumPy's axis=None, the method's default here
    if name == "cholesky":  # Tensor.cholesky is deprecated in PyTorch, torch.linalg's is not
        return torch.linalg.cholesky(x, upper=bool(args and args[0]))
    if name == "diff":
        return torch.diff(x, n=args[0], dim=args[1])
    return getattr(x, name)(*args)


@pytest.mark.parametrize("name, value, args", CASES, ids=[c[0] for c in CASES])
def test_a_method_matches_pytorchs(name, value, args):
    ours_in, theirs_in = _arg(value, cr), _arg(value, torch)
    ours_args = [_arg(a, cr) for a in args]
    theirs_args = [_arg(a, torch) for a in args]
    ours = getattr(ours_in, name)(*ours_args)
    theirs = _torch_call(name, theirs_in, theirs_args)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    if not theirs.requires_grad:
        return
    cotangent = RNG.standard_normal(theirs.shape)
    ours.backward(cotangent)
    theirs.backward(torch.tensor(cotangent))
    for o, t in zip([ours_in] + ours_args, [theirs_in] + theirs_args):
        if isinstance(o, cr.Tensor):
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "name, args", [("sort", (-1,)), ("sort", (0, True)), ("topk", (2,)), ("topk", (1, 0, False))]
)
def test_sort_and_topk_give_values_and_indices_as_pytorch(name, args):
    ours_in, theirs_in = _arg(MATRIX, cr), _arg(MATRIX, torch)
    (values, indices), (t_values, t_indices) = (
        getattr(ours_in, name)(*args),
        getattr(theirs_in, name)(*args),
    )
    np.testing.assert_array_equal(values.numpy(), t_values.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), t_indices.numpy())
    (values * values).sum().backward()
    (t_values * t_values).sum().backward()
    np.testing.assert_array_equal(ours_in.grad.numpy(), theirs_in.grad.numpy())


def test_gather_and_scatter_add_methods_match_pytorch():
    index = np.array([[0, 2], [1, 1], [3, 0]])
    ours, theirs = _arg(MATRIX, cr), _arg(MATRIX, torch)
    (ours.gather(1, index) ** 2).sum().backward()
    (theirs.gather(1, torch.tensor(index)) ** 2).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    src = RNG.standard_normal((3, 2))
    np.testing.assert_allclose(
        _arg(MATRIX, cr).scatter_add(1, index, src).numpy(),
        torch.tensor(MATRIX).scatter_add(1, torch.tensor(index), torch.tensor(src)).numpy(),
    )


def test_the_remainder_operator_matches_python():
    x = cr.tensor(np.array([5.5, -5.5]))
    np.testing.assert_array_equal((x % 2).numpy(), [5.5 % 2, -5.5 % 2])
    np.testing.assert_array_equal((7 % cr.tensor(np.array([3.0, -3.0]))).numpy(), [1.0, -2.0])
