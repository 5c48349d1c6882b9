"""PyTorch's names on chainrule: Tensor methods and ``cr`` functions against PyTorch in float64.

Each case runs one function ``f(L, *xs)`` on both libraries (``L.lib`` is ``torch`` or
``cr``), compares the results (values, shapes, dtypes) and the gradients of a weighted sum
of the results for every floating-point input. The generated suite (tests/test_ops.py)
already runs gradcheck, gradgradcheck and HIPS autograd on every registered spec; this file
checks PyTorch's semantics (argument names, defaults, tuples of results, ties, errors).
"""

import math

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

# Both sides compute the same float64 formulas, in possibly different orders or forms
# (logcumsumexp: running logaddexp against PyTorch's scan): rounding alone separates them,
# at ~1e-15 relative; 1e-10 keeps a wide margin and still catches any wrong formula.
TOL = {"rtol": 1e-10, "atol": 1e-12}


class _Library:
    def __init__(self, lib):
        self.lib = lib

    def t(self, value, dtype=None):
        """A constant tensor (no gradient)."""
        array = np.asarray(value, dtype=dtype)
        return torch.as_tensor(array) if self.lib is torch else cr.tensor(array)


TORCH, CR = _Library(torch), _Library(cr)
rng = np.random.default_rng(0)


def _listed(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _leaf(L, array, grad):
    if L is TORCH:
        return torch.tensor(array, requires_grad=grad)
    return cr.tensor(array.copy(), requires_grad=grad)


def _compare(ours, theirs):
    assert len(ours) == len(theirs), f"{len(ours)} results, PyTorch gives {len(theirs)}"
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert isinstance(o, cr.Tensor), f"result {i} is a {type(o).__name__}"
        mine, ref = o.data, t.detach().numpy()
        assert mine.shape == ref.shape, f"result {i}: shape {mine.shape}, PyTorch {ref.shape}"
        assert mine.dtype == ref.dtype, f"result {i}: dtype {mine.dtype}, PyTorch {ref.dtype}"
        np.testing.assert_allclose(mine, ref, **TOL, err_msg=f"result {i}")


def check(fn, *arrays, grad=True):
    """``fn`` on both libraries: the same results, and the same gradients of
    ``sum(w_i * out_i)`` (fixed random weights) for every float input."""
    arrays = [np.asarray(a) for a in arrays]
    wants = [grad and a.dtype.kind == "f" for a in arrays]
    theirs_in = [_leaf(TORCH, a, w) for a, w in zip(arrays, wants)]
    ours_in = [_leaf(CR, a, w) for a, w in zip(arrays, wants)]
    theirs, ours = _listed(fn(TORCH, *theirs_in)), _listed(fn(CR, *ours_in))
    _compare(ours, theirs)
    picked = [i for i, t in enumerate(theirs) if t.requires_grad]
    if not picked:
        return
    weights = [np.random.default_rng(i).standard_normal(tuple(theirs[i].shape)) for i in picked]
    total = sum((theirs[i] * torch.tensor(w)).sum() for i, w in zip(picked, weights))
    needing = [x for x in theirs_in if x.requires_grad]
    expected = torch.autograd.grad(total, needing, allow_unused=True)
    assert all(ours[i].requires_grad for i in picked), "a result does not require grad"
    sum((ours[i] * w).sum() for i, w in zip(picked, weights)).backward()
    got = [
        x.grad if x.grad is not None else cr.tensor(np.zeros_like(x.data))
        for x in ours_in
        if x.requires_grad
    ]
    # (PyTorch may give a gradient it knows to be zero as a ZeroTensor, which has no numpy.)
    _compare(
        got, [x.new_zeros(x.shape) + (0 if g is None else g) for x, g in zip(needing, expected)]
    )


def R(*shape):
    return rng.standard_normal(shape)


def _ties():
    """Values with ties (and a repeated maximum in each row)."""
    return np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [0.5, 0.5, -1.0, 0.5, 0.0]])


# ----------------------------------------------------------------------- methods
METHODS = {
    "add_alpha": (lambda L, x, y: x.add(y, alpha=2.5), R(3, 4), R(4)),
    "sub_alpha": (lambda L, x, y: x.sub(y, alpha=0.5), R(3, 4), R(3, 1)),
    "mul": (lambda L, x, y: x.mul(y), R(3, 4), R(3, 4)),
    "multiply": (lambda L, x, y: x.multiply(y), R(2, 3), R(3)),
    "div": (lambda L, x, y: x.div(y), R(3, 4), R(4) + 3.0),
    "divide": (lambda L, x, y: x.divide(y), R(3, 4), R(4) + 3.0),
    "true_divide": (lambda L, x, y: x.true_divide(y), R(3, 4), R(4) + 3.0),
    "neg": (lambda L, x: x.neg(), R(3, 4)),
    "negative": (lambda L, x: x.negative(), R(3, 4)),
    "pow": (lambda L, x, y: x.pow(y), np.abs(R(3, 4)) + 0.5, R(3, 4)),
    "pow_scalar": (lambda L, x: x.pow(3), R(3, 4)),
    "lerp_tensor": (lambda L, x, y, w: x.lerp(y, w), R(3, 4), R(3, 4), rng.uniform(-1, 2, (3, 4))),
    "lerp_low": (lambda L, x, y: x.lerp(y, 0.25), R(3, 4), R(4)),
    "lerp_high": (lambda L, x, y: x.lerp(y, 0.75), R(3, 4), R(4)),
    "lerp_function": (lambda L, x, y, w: L.lib.lerp(x, y, w), R(2, 1, 3), R(4, 1), R(3)),
    "copysign": (lambda L, x, y: x.copysign(y), R(3, 4), R(4)),
    "copysign_zeros": (
        lambda L, x, y: L.lib.copysign(x, y),
        np.array([0.0, -0.0, 1.0, -2.0, 0.0]),
        np.array([1.0, -1.0, -0.0, 0.0, -3.0]),
    ),
    "clamp_min": (lambda L, x: x.clamp_min(0.2), R(3, 4)),
    "clamp_max": (lambda L, x: x.clamp_max(-0.1), R(3, 4)),
    "clamp_min_function": (lambda L, x: L.lib.clamp_min(x, -0.3), R(5)),
    "frac": (lambda L, x: x.frac(), 3 * R(3, 4)),
    "frac_function": (lambda L, x: L.lib.frac(x), 3 * R(5)),
    "sgn": (lambda L, x: x.sgn(), np.array([-2.0, 0.0, 3.0])),
    "amax": (lambda L, x: x.amax(dim=1), _ties()),
    "amax_all": (lambda L, x: x.amax(), _ties()),
    "amax_dims": (lambda L, x: x.amax(dim=(0, 2), keepdim=True), np.round(R(2, 3, 4))),
    "amin": (lambda L, x: x.amin(dim=0), _ties()),
    "amin_keepdim": (lambda L, x: x.amin(1, True), _ties()),
    "where": (lambda L, x, y: x.where(x > 0, y), R(3, 4), R(4)),
    "masked_fill": (lambda L, x: x.masked_fill(x > 0.3, -7.0), R(4, 5)),
    "masked_fill_broadcast_mask": (
        lambda L, x: x.masked_fill(L.t([True, False, True]), 2.5),
        R(2, 3),
    ),
    "masked_fill_tensor_value": (lambda L, x, v: x.masked_fill(x < 0, v), R(3, 4), np.array(1.5)),
    "masked_fill_function": (lambda L, x: L.lib.masked_fill(x, x > 0, 0.0), R(3, 4)),
    "masked_select": (lambda L, x: x.masked_select(x > 0), R(3, 4)),
    "masked_select_broadcast": (
        lambda L, x: x.masked_select(L.t([[True], [False], [True]])),
        R(3, 4),
    ),
    "masked_select_function": (lambda L, x, y: L.lib.masked_select(x, y > 0), R(4), R(3, 4)),
    "logcumsumexp": (lambda L, x: x.logcumsumexp(1), R(3, 5)),
    "logcumsumexp_wide": (
        lambda L, x: L.lib.logcumsumexp(x, 0),
        np.array([-300.0, 0.0, 100.0, -50.0, 400.0, 399.0]),
    ),
    "logcumsumexp_3d": (lambda L, x: L.lib.logcumsumexp(x, dim=-2), R(2, 4, 3)),
    "logcumsumexp_0d": (lambda L, x: L.lib.logcumsumexp(x, 0), np.array(1.5)),
    "logcumsumexp_empty": (lambda L, x: L.lib.logcumsumexp(x, 0), R(0, 3)),
    "cummax": (lambda L, x: tuple(x.cummax(1)), _ties()),
    "cummin": (lambda L, x: tuple(x.cummin(dim=1)), _ties()),
    "cummax_function": (lambda L, x: tuple(L.lib.cummax(x, 0)), R(5, 3)),
    "cummin_function": (lambda L, x: tuple(L.lib.cummin(x, -1)), R(2, 3, 4)),
    "cummax_0d": (lambda L, x: tuple(L.lib.cummax(x, 0)), np.array(2.0)),
    "cummax_nan": (lambda L, x: tuple(x.cummax(0)), np.array([1.0, np.nan, 3.0, np.nan, 0.0])),
    "cummin_empty": (lambda L, x: tuple(x.cummin(0)), R(0, 2)),
    "flatten": (lambda L, x: x.flatten(), R(2, 3, 4)),
    "flatten_start": (lambda L, x: x.flatten(1), R(2, 3, 4)),
    "flatten_range": (lambda L, x: x.flatten(start_dim=-3, end_dim=-2), R(2, 3, 4, 5)),
    "flatten_0d": (lambda L, x: x.flatten(), np.array(2.0)),
    "flatten_function": (lambda L, x: L.lib.flatten(x, 1, 2), R(2, 3, 4, 5)),
    "unflatten": (lambda L, x: x.unflatten(1, (2, -1)), R(4, 6)),
    "unflatten_function": (lambda L, x: L.lib.unflatten(x, -1, (3, 1, 2)), R(4, 6)),
    "split_size": (lambda L, x: x.split(2), R(5, 3)),
    "split_sizes": (lambda L, x: x.split([1, 0, 3], dim=1), R(2, 4)),
    "split_empty": (lambda L, x: x.split(2), R(0, 3)),
    "chunk": (lambda L, x: x.chunk(3), R(5, 2)),
    "chunk_dim": (lambda L, x: x.chunk(4, dim=-1), R(2, 13)),
    "chunk_function": (lambda L, x: L.lib.chunk(x, 6, 1), R(8, 13)),
    "chunk_empty": (lambda L, x: x.chunk(3), R(0)),
    "tensor_split": (lambda L, x: x.tensor_split(3), R(7, 2)),
    "tensor_split_indices": (lambda L, x: x.tensor_split([1, 3], dim=1), R(2, 6)),
    "tensor_split_function": (lambda L, x: L.lib.tensor_split(x, 4, dim=-1), R(2, 6)),
    "unbind": (lambda L, x: x.unbind(), R(3, 4)),
    "unbind_dim": (lambda L, x: L.lib.unbind(x, dim=-1), R(2, 3)),
    "unfold": (lambda L, x: x.unfold(0, 2, 1), R(8)),
    "unfold_step": (lambda L, x: x.unfold(1, 3, 2), R(3, 8, 2)),
    "unfold_overlap": (lambda L, x: x.unfold(-1, 4, 1), R(2, 6)),
    "unfold_empty_window": (lambda L, x: x.unfold(2, 0, 8), R(3, 3, 3)),
    "unfold_0d": (lambda L, x: x.unfold(0, 1, 1), np.array(2.0)),
    "t": (lambda L, x: x.t(), R(3, 4)),
    "t_vector": (lambda L, x: x.t(), R(3)),
    "t_function": (lambda L, x: L.lib.t(x), R(2, 5)),
    "swapdims": (lambda L, x: x.swapdims(0, 2), R(2, 3, 4)),
    "swapdims_function": (lambda L, x: L.lib.swapdims(x, -1, 0), R(2, 3, 4)),
    "movedim": (lambda L, x: L.lib.movedim(x, 0, -1), R(2, 3, 4)),
    "permute": (lambda L, x: x.permute(2, 0, 1), R(2, 3, 4)),
    "permute_tuple": (lambda L, x: x.permute((-1, 0, 1)), R(2, 3, 4)),
    "permute_function": (lambda L, x: L.lib.permute(x, (1, 0)), R(2, 3)),
    "narrow": (lambda L, x: x.narrow(1, 1, 2), R(3, 4)),
    "narrow_negative_start": (lambda L, x: L.lib.narrow(x, 0, -2, 2), R(5)),
    "select": (lambda L, x: x.select(1, -1), R(3, 4)),
    "select_first": (lambda L, x: x.select(0, 0), R(3, 4, 2)),
    "index_select": (lambda L, x: x.index_select(0, L.t([2, 0, 2])), R(3, 4)),
    "index_select_function": (lambda L, x: L.lib.index_select(x, -1, L.t([1, 1])), R(3, 4)),
    "take_along_dim": (lambda L, x: L.lib.take_along_dim(x, L.t([[0, 2, 2]]), dim=1), R(3, 4)),
    "take_along_dim_flat": (lambda L, x: x.take_along_dim(L.t([[11, 0], [5, 5]])), R(3, 4)),
    "repeat_interleave": (lambda L, x: L.lib.repeat_interleave(x, 2, dim=0), R(3, 2)),
    "view_as": (lambda L, x, y: x.view_as(y), R(2, 6), R(3, 4)),
    "reshape_as": (lambda L, x, y: x.reshape_as(y), R(12), R(3, 4)),
    "expand_as": (lambda L, x, y: x.expand_as(y), R(3, 1), R(3, 4)),
    "squeeze_0d": (lambda L, x: x.squeeze(0), np.array(2.0)),
    "squeeze_kept": (lambda L, x: x.squeeze(1), R(3, 2, 1)),
    "squeeze_dims": (lambda L, x: x.squeeze((0, 2)), R(1, 2, 1)),
    "unsqueeze": (lambda L, x: L.lib.unsqueeze(x, -1), R(3, 4)),
    "unsqueeze_0d": (lambda L, x: L.lib.unsqueeze(x, 0), np.array(1.0)),
    "mm": (lambda L, x, y: x.mm(y), R(3, 4), R(4, 2)),
    "bmm": (lambda L, x, y: x.bmm(y), R(2, 3, 4), R(2, 4, 5)),
    "mv": (lambda L, x, y: x.mv(y), R(3, 4), R(4)),
    "mm_function": (lambda L, x, y: L.lib.mm(x, y), R(3, 4), R(4, 2)),
    "cat": (lambda L, x, y: L.lib.cat([x, y], dim=1), R(2, 3), R(2, 1)),
    "cat_negative": (lambda L, x, y: L.lib.cat((x, y), -2), R(2, 3), R(1, 3)),
    "concat": (lambda L, x, y: L.lib.concat([x, y], dim=0), R(2, 3), R(1, 3)),
    "stack_dim": (lambda L, x, y: L.lib.stack([x, y], dim=-1), R(2, 3), R(2, 3)),
    "concatenate_dim": (lambda L, x, y: L.lib.concatenate([x, y], dim=1), R(2, 3), R(2, 2)),
    "meshgrid_ij": (lambda L, x, y: L.lib.meshgrid(x, y, indexing="ij"), R(3), R(4)),
    "meshgrid_xy": (lambda L, x, y, z: L.lib.meshgrid(x, y, z, indexing="xy"), R(3), R(4), R(2)),
    "meshgrid_list": (lambda L, x, y: L.lib.meshgrid([x, y], indexing="ij"), R(3), np.array(1.0)),
    "std_mean": (lambda L, x: L.lib.std_mean(x), R(3, 4)),
    "std_mean_dims": (
        lambda L, x: L.lib.std_mean(x, dim=(0, 2), keepdim=True, correction=0),
        R(2, 3, 4),
    ),
    "var_mean": (lambda L, x: L.lib.var_mean(x, 1), R(3, 4)),
    "var_mean_correction": (lambda L, x: L.lib.var_mean(x, dim=0, correction=2), R(5, 2)),
    "cumsum_0d": (lambda L, x: L.lib.cumsum(x, dim=0), np.array(1.5)),
    "cumprod_0d": (lambda L, x: L.lib.cumprod(x, dim=-1), np.array(1.5)),
    "einsum_ellipsis_summed": (
        lambda L, x, y: L.lib.einsum("ij...,ij...->ij", x, y),
        R(2, 3, 4, 5),
        R(2, 3, 4, 5),
    ),
    "einsum_ellipsis_all_summed": (lambda L, x: L.lib.einsum("...ii->", x), R(3, 4, 4)),
    "einsum_ellipsis_broadcast": (
        lambda L, x, y: L.lib.einsum("i...,i...->i", x, y),
        R(3, 4, 1),
        R(3, 1, 5),
    ),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_matches_pytorch(name):
    fn, *arrays = METHODS[name]
    check(fn, *arrays)


def test_meshgrid_defaults_to_numpys_xy():
    x, y = cr.tensor(R(3)), cr.tensor(R(4))
    for ours, numpys in zip(cr.meshgrid(x, y), np.meshgrid(x.data, y.data)):
        np.testing.assert_array_equal(ours.data, numpys)
        assert ours.data.flags.writeable  # copies, as NumPy's (copy=True)
    sparse = cr.meshgrid(x, y, sparse=True)
    assert [g.shape for g in sparse] == [(1, 3), (4, 1)]


def test_logcumsumexp_second_derivative_matches_pytorch():
    a, v = R(6), R(6)

    def f(t):
        return (cr.logcumsumexp(t, 0) * v).sum()

    hvp = cr.grad(lambda t: (cr.grad(f)(t) * v).sum())(a)
    ta = torch.tensor(a, requires_grad=True)
    (g,) = torch.autograd.grad(
        (torch.logcumsumexp(ta, 0) * torch.tensor(v)).sum(), ta, create_graph=True
    )
    (expected,) = torch.autograd.grad((g * torch.tensor(v)).sum(), ta)
    np.testing.assert_allclose(hvp, expected.numpy(), **TOL)


def test_float32_stays_float32():
    x = cr.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    outs = [
        x.logcumsumexp(1),
        x.cummax(0).values,
        x.lerp(x * 2, 0.75),
        x.frac(),
        x.copysign(-1.0),
        x.masked_fill(x > 0, -math.inf),
        x.unfold(1, 2, 1),
        *x.split(2),
        cr.std_mean(x, 1)[0],
        cr.meshgrid(x[0], x[1])[0],
    ]
    for out in outs:
        assert out.dtype == np.float32
    sum(o.sum() for o in outs[:5]).backward()
    assert x.grad.dtype == np.float32


# ----------------------------------------------------------------------- no gradient
ROUNDING = [1.499, 1.5, 2.5, -2.5, -0.5, 0.0, -5.0, 1e12, math.inf, -math.inf]


@pytest.mark.parametrize(
    "name",
    ["floor", "ceil", "trunc", "round", "signbit", "isinf", "isnan", "isfinite", "sgn", "angle"],
)
def test_rounding_and_tests_match_pytorch(name):
    values = np.array(ROUNDING + [math.nan])
    ours, theirs = getattr(cr.tensor(values), name)(), getattr(torch.tensor(values), name)()
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert ours.dtype == theirs.numpy().dtype


def test_round_decimals_matches_pytorch():
    values = np.array([1.2345, -2.5551, 0.125, 1e6 + 0.55])
    np.testing.assert_array_equal(
        cr.tensor(values).round(decimals=2).data, torch.tensor(values).round(decimals=2).numpy()
    )


NUMERATORS = np.array([[5], [6], [7], [0], [-5], [-6], [-7], [110], [-111]])
DENOMINATORS = np.array([-10, -5, -3, -2, -1, 1, 2, 3, 5, 55])


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
@pytest.mark.parametrize("floats", [(False, False), (True, True), (True, False)])
def test_div_rounding_modes_match_pytorch(mode, floats):
    a = NUMERATORS.astype(np.float64) if floats[0] else NUMERATORS
    b = DENOMINATORS.astype(np.float64) if floats[1] else DENOMINATORS
    ours = cr.tensor(a).div(cr.tensor(b), rounding_mode=mode)
    theirs = torch.tensor(a).div(torch.tensor(b), rounding_mode=mode)
    # Rounded quotients are exact; PyTorch's int / int is float32 (its default dtype), so the
    # true quotient agrees to float32's rounding there (6e-8 relative), and to float64's else.
    rtol = 1e-6 if mode is None and not floats[0] else 1e-15
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=rtol)
    if mode is not None:  # int / int stays int; the true quotient is a dtype-policy question
        assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_allclose(
        cr.div(a, b, rounding_mode=mode),
        torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode).numpy(),
        rtol=rtol,
    )


def test_rounded_division_is_a_constant():
    x = cr.tensor([7.5, -7.5], requires_grad=True)
    for out in (
        x.div(2.0, rounding_mode="floor"),
        x // 2.0,
        10.0 // x,
        cr.divide(x, 2.0, rounding_mode="trunc"),
    ):
        assert not out.requires_grad
    np.testing.assert_array_equal((10.0 // x).data, [1.0, -2.0])


@pytest.mark.parametrize("values", [[True, False, True, False], [5, -3, 0, 12]])
def test_bitwise_operators_match_pytorch(values):
    other = [True, True, False, False] if isinstance(values[0], bool) else [3, 3, -1, 4]
    x, y = cr.tensor(values), cr.tensor(other)
    tx, ty = torch.tensor(values), torch.tensor(other)
    for ours, theirs in [
        (~x, ~tx),
        (x & y, tx & ty),
        (x | y, tx | ty),
        (x ^ y, tx ^ ty),
        (x & other[0], tx & other[0]),
        (other[1] | x, other[1] | tx),
    ]:
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        assert ours.dtype == theirs.numpy().dtype


def test_comparisons_and_logic_match_pytorch():
    a, b = np.array([0.0, 1.0, -1.0, math.inf, math.nan]), np.array([0.0, 2.0, -1.0, 1.0, 0.0])
    x, tx = cr.tensor(a), torch.tensor(a)
    for name in (
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "isclose",
        "logical_and",
        "logical_or",
        "logical_xor",
    ):
        np.testing.assert_array_equal(
            getattr(x, name)(cr.tensor(b)).data,
            getattr(tx, name)(torch.tensor(b)).numpy(),
            err_msg=name,
        )
        if hasattr(cr, name):
            np.testing.assert_array_equal(
                getattr(cr, name)(x, cr.tensor(b)).data,
                getattr(torch, name)(tx, torch.tensor(b)).numpy(),
            )
    assert x.allclose(x * 1.0 + 1e-9, equal_nan=True) is True
    assert x.equal(cr.tensor(a.copy())) is False  # NaN != NaN, as torch.equal
    np.testing.assert_array_equal(x.logical_not().data, tx.logical_not().numpy())


def test_reductions_without_gradient_match_pytorch():
    a = np.array([[0.0, 1.5, 0.0], [2.0, -1.0, 0.0]])
    x, tx = cr.tensor(a), torch.tensor(a)
    for ours, theirs in [
        (x.all(), tx.all()),
        (x.any(1), tx.any(1)),
        (x.all(dim=0, keepdim=True), tx.all(dim=0, keepdim=True)),
        (x.count_nonzero(), tx.count_nonzero()),
        (x.count_nonzero(dim=1), tx.count_nonzero(dim=1)),
        (x.nonzero(), tx.nonzero()),
    ]:
        assert isinstance(ours, cr.Tensor)
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    for ours, theirs in zip(x.nonzero(as_tuple=True), tx.nonzero(as_tuple=True)):
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_tril_and_triu_keep_bool_and_int_dtypes():
    for values in (np.ones((3, 3), bool), np.arange(9).reshape(3, 3)):
        for name in ("tril", "triu"):
            ours = getattr(cr.tensor(values), name)(1)
            theirs = getattr(torch.tensor(values), name)(1).numpy()
            np.testing.assert_array_equal(ours.data, theirs)
            assert ours.dtype == theirs.dtype


def test_conj_of_a_real_tensor_is_itself():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    assert x.conj() is x


def test_new_tensors_take_this_ones_dtype():
    x = cr.tensor(np.zeros(2, np.float64))
    made = [
        x.new_zeros(2, 3),
        x.new_ones((2,)),
        x.new_full((2, 2), 1.5),
        x.new_tensor([1, 2]),
        x.new_empty(3),
    ]
    assert [m.dtype for m in made] == [np.float64] * 5
    assert [m.shape for m in made] == [(2, 3), (2,), (2, 2), (2,), (3,)]
    assert x.new_zeros(2, dtype=np.int64).dtype == np.int64
    assert x.new_ones(2, requires_grad=True).requires_grad
    assert x.type_as(cr.tensor(np.zeros(1, np.float32))).dtype == np.float32


def test_xlogy_and_logit_methods_call_the_activation_family():
    a, b = np.array([0.0, 0.5, 2.0]), np.array([3.0, 0.25, 1.5])
    np.testing.assert_allclose(
        cr.tensor(a).xlogy(cr.tensor(b)).data, torch.tensor(a).xlogy(torch.tensor(b)).numpy(), **TOL
    )
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(cr.tensor(p).logit().data, torch.tensor(p).logit().numpy(), **TOL)


# ----------------------------------------------------------------------- errors
ERRORS = [
    ("clip_none", lambda: cr.tensor([1.0]).clip(None, None), (RuntimeError, ValueError)),
    ("clip_none_function", lambda: cr.clip(np.ones(2)), (RuntimeError, ValueError)),
    (
        "div_mode",
        lambda: cr.tensor([1.0]).div(2.0, rounding_mode="typo"),
        (RuntimeError, ValueError),
    ),
    ("squeeze_axis", lambda: cr.squeeze(cr.zeros(1, 2), 5), cr.AxisError),
    ("squeeze_axis_0d", lambda: cr.squeeze(cr.tensor(1.0), 1), cr.AxisError),
    ("squeeze_method_0d", lambda: cr.tensor(1.0).squeeze(-2), IndexError),
    ("squeeze_length", lambda: cr.squeeze(cr.zeros(1, 2), 1), ValueError),
    ("cumsum_0d", lambda: cr.cumsum(cr.tensor(1.0), dim=1), IndexError),
    ("flatten_order", lambda: cr.flatten(cr.zeros(2, 3, 4), 2, 1), RuntimeError),
    ("split_sizes", lambda: cr.zeros(5).split([2, 2]), RuntimeError),
    ("split_zero", lambda: cr.zeros(5).split(0), RuntimeError),
    ("chunk_zero", lambda: cr.chunk(cr.zeros(5), 0), RuntimeError),
    ("unfold_size", lambda: cr.zeros(8).unfold(0, 9, 3), RuntimeError),
    ("unfold_dim", lambda: cr.zeros(8).unfold(1, 2, 3), IndexError),
    ("unfold_step", lambda: cr.zeros(8).unfold(0, 1, -1), RuntimeError),
    ("narrow_start", lambda: cr.narrow(cr.zeros(3), 0, 5, 0), IndexError),
    ("narrow_length", lambda: cr.narrow(cr.zeros(3), 0, 2, 2), RuntimeError),
    ("select_index", lambda: cr.zeros(3, 2).select(0, 3), IndexError),
    (
        "index_select_matrix",
        lambda: cr.index_select(cr.zeros(3), 0, np.zeros((1, 1), int)),
        RuntimeError,
    ),
    ("index_select_range", lambda: cr.zeros(3).index_select(0, cr.tensor([3])), IndexError),
    ("meshgrid_indexing", lambda: cr.meshgrid(cr.zeros(2), indexing="bad"), RuntimeError),
    ("mm_ranks", lambda: cr.mm(cr.zeros(3), cr.zeros(3, 2)), RuntimeError),
    ("bmm_batch", lambda: cr.bmm(cr.zeros(2, 3, 4), cr.zeros(3, 4, 5)), RuntimeError),
    ("mv_ranks", lambda: cr.zeros(3, 4).mv(cr.zeros(4, 1)), RuntimeError),
    ("t_3d", lambda: cr.zeros(2, 3, 4).t(), RuntimeError),
    ("unflatten_sizes", lambda: cr.zeros(4, 6).unflatten(1, (4, 2)), RuntimeError),
    ("masked_fill_mask_dtype", lambda: cr.zeros(3).masked_fill(np.ones(3), 1.0), TypeError),
    (
        "masked_fill_mask_shape",
        lambda: cr.zeros(3).masked_fill(np.ones((2, 3), bool), 1.0),
        RuntimeError,
    ),
    (
        "einsum_two_ellipses",
        lambda: cr.einsum("...ik..., ...jk ->", cr.zeros(2, 3, 4), cr.zeros(2, 3, 4)),
        RuntimeError,
    ),
    ("roll_shifts", lambda: cr.zeros(2, 4).roll((1, 2)), RuntimeError),
    ("cat_0d", lambda: cr.cat([cr.tensor(1.0), cr.tensor(2.0)]), IndexError),
    ("stack_dim", lambda: cr.stack([cr.zeros(2)], dim=5), IndexError),
    ("stack_axis_and_dim", lambda: cr.stack([cr.zeros(2)], axis=1, dim=0), TypeError),
]


@pytest.mark.parametrize("call, error", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_invalid_calls_raise_what_pytorch_code_catches(call, error):
    with pytest.raises(error):
        call()


def test_error_messages_name_the_function():
    with pytest.raises(RuntimeError, match="^split: sizes"):
        cr.zeros(5).split([2, 2])
    with pytest.raises(RuntimeError, match="^unfold: window size 9"):
        cr.zeros(8).unfold(0, 9, 3)
    with pytest.raises(cr.AxisError, match="^squeeze: axis 5"):
        cr.squeeze(cr.zeros(1, 2), 5)
