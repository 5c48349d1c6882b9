"""Matrix structure and products (ops/matrix.py, ops/linalg.py): values and gradients against
PyTorch in float64, einsum's forms, its broadcasting gradients (a regression) and its errors.

The generated suite (tests/test_ops.py) already runs gradcheck, gradgradcheck and the HIPS
autograd comparison on every spec case; here PyTorch is a second, independent reference.
"""

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import linalg as L

RNG = np.random.default_rng(20240611)


def _arrays(*shapes):
    return [RNG.standard_normal(shape) for shape in shapes]


def _compare_with_torch(ours, theirs, *arrays):
    """Values and vector-Jacobian products of ``ours`` (chainrule) and ``theirs`` (torch)."""
    torch = pytest.importorskip("torch")
    leaves = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = ours(*leaves)
    torch_leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    expected = theirs(*torch_leaves)
    # Both sides compute the same sums of products in float64, perhaps in another order:
    # a few ulps apart.
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert out.shape == tuple(expected.shape)
    cotangent = RNG.standard_normal(out.shape)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    for i, (leaf, torch_leaf) in enumerate(zip(leaves, torch_leaves)):
        np.testing.assert_allclose(
            leaf.grad.numpy(), torch_leaf.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"input {i}"
        )


def test_every_public_name_is_exported_and_listed():
    for name in (
        "tril",
        "triu",
        "diag",
        "diagonal",
        "trace",
        "tensordot",
        "inner",
        "kron",
        "cross",
        "dot",
        "vdot",
        "outer",
        "matmul",
        "einsum",
    ):
        assert name in L.__all__
        assert getattr(cr, name) is getattr(L, name), name  # star-imported by cr


# ----------------------------------------------------------------------- structure
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 4)])
@pytest.mark.parametrize("k", [-2, 0, 1, 6])
def test_tril_and_triu_match_torch(shape, k):
    (x,) = _arrays(shape)
    _compare_with_torch(lambda t: L.tril(t, k), lambda t: t.tril(k), x)
    _compare_with_torch(lambda t: L.triu(t, k), lambda t: t.triu(k), x)


def test_tril_of_a_vector_is_numpys_broadcast_square_and_takes_torchs_name():
    v = np.arange(1.0, 4.0)
    np.testing.assert_array_equal(L.tril(v, 1), np.tril(v, 1))
    np.testing.assert_array_equal(L.triu(v), np.triu(v))
    x = cr.tensor(v, requires_grad=True)
    L.tril(x).sum().backward()  # column j is kept in rows j..2: 3, 2, 1 times
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 2.0, 1.0])
    m = RNG.standard_normal((3, 3))
    np.testing.assert_array_equal(L.triu(m, diagonal=-1), np.triu(m, -1))


def test_tril_keeps_integer_and_float32_dtypes_and_zeroes_nan_outside():
    ints = np.arange(9).reshape(3, 3)
    assert L.tril(ints).dtype == ints.dtype
    np.testing.assert_array_equal(L.tril(ints), np.tril(ints))
    assert L.triu(cr.ones(2, 2)).dtype == np.float32
    with_nan = np.array([[1.0, np.nan], [2.0, 3.0]])
    np.testing.assert_array_equal(L.tril(with_nan), [[1.0, 0.0], [2.0, 3.0]])


@pytest.mark.parametrize(
    "shape, offset, axis1, axis2",
    [
        ((3, 4), 0, 0, 1),
        ((3, 4), 2, 0, 1),
        ((4, 3), -1, 0, 1),
        ((3, 3), 4, 0, 1),
        ((2, 3, 4), 1, 2, 0),
        ((2, 3, 4), -1, -1, 1),
        ((2, 3, 4, 2), 0, 1, 3),
    ],
)
def test_diagonal_and_trace_match_torch(shape, offset, axis1, axis2):
    (x,) = _arrays(shape)
    _compare_with_torch(
        lambda t: L.diagonal(t, offset, axis1, axis2), lambda t: t.diagonal(offset, axis1, axis2), x
    )
    _compare_with_torch(
        lambda t: L.trace(t, offset, axis1, axis2),
        lambda t: t.diagonal(offset, axis1, axis2).sum(-1),
        x,
    )
    np.testing.assert_array_equal(
        L.diagonal(x, offset, axis1, axis2), np.diagonal(x, offset, axis1, axis2)
    )
    np.testing.assert_allclose(
        L.trace(x, offset, axis1, axis2), np.trace(x, offset, axis1, axis2), rtol=1e-15
    )


def test_trace_of_a_matrix_matches_torchs_trace():
    (x,) = _arrays((4, 3))
    _compare_with_torch(L.trace, lambda t: t.trace(), x)


def test_diagonal_takes_torchs_dim_names_and_trace_takes_a_dtype():
    (x,) = _arrays((2, 3, 4))
    np.testing.assert_array_equal(L.diagonal(x, 1, dim1=2, dim2=1), np.diagonal(x, 1, 2, 1))
    t = cr.tensor(x.astype(np.float32), requires_grad=True)
    total = L.trace(t, dtype=np.float64)
    assert total.dtype == np.float64
    total.sum().backward()
    assert t.grad.dtype == np.float32
    assert L.trace(np.arange(4).reshape(2, 2)) == 3


@pytest.mark.parametrize(
    "shape, k", [((3,), 0), ((3,), 2), ((3,), -1), ((4, 3), 0), ((3, 4), 1), ((4, 3), -2)]
)
def test_diag_matches_torch(shape, k):
    (x,) = _arrays(shape)
    _compare_with_torch(lambda t: L.diag(t, k), lambda t: t.diag(k), x)
    np.testing.assert_array_equal(L.diag(x, k), np.diag(x, k))


# ----------------------------------------------------------------------- products
@pytest.mark.parametrize(
    "shapes, axes",
    [
        (((2, 3, 4), (3, 4, 5)), 2),
        (((2, 3), (3, 4)), 1),
        (((2, 3), (4,)), 0),
        (((2, 3, 4), (5, 4, 2)), ((0, 2), (2, 1))),
        (((2, 3), (3,)), ((1,), (0,))),
        (((3, 2), (2, 3)), ((0, 1), (1, 0))),
    ],
)
def test_tensordot_matches_torch(shapes, axes):
    torch = pytest.importorskip("torch")
    arrays = _arrays(*shapes)
    torch_axes = axes if isinstance(axes, int) else [list(a) for a in axes]
    _compare_with_torch(
        lambda a, b: L.tensordot(a, b, axes),
        lambda a, b: torch.tensordot(a, b, dims=torch_axes),
        *arrays,
    )
    np.testing.assert_allclose(
        L.tensordot(*arrays, axes=axes), np.tensordot(*arrays, axes), rtol=1e-12
    )


def test_tensordot_takes_a_pair_of_ints_and_torchs_dims():
    a, b = _arrays((2, 3), (3, 4))
    np.testing.assert_allclose(L.tensordot(a, b, (1, 0)), a @ b, rtol=1e-12)
    np.testing.assert_allclose(L.tensordot(a, b, dims=1), a @ b, rtol=1e-12)


@pytest.mark.parametrize(
    "shapes", [((4,), (4,)), ((2, 3), (4, 3)), ((2, 1, 3), (3,)), ((3,), (2, 2, 3))]
)
def test_inner_matches_torch(shapes):
    torch = pytest.importorskip("torch")
    _compare_with_torch(L.inner, torch.inner, *_arrays(*shapes))


@pytest.mark.parametrize(
    "shapes", [((2, 3), (4,)), ((2, 2), (3, 2)), ((2, 1, 3), (2, 2)), ((3,), (2, 2))]
)
def test_kron_matches_torch(shapes):
    torch = pytest.importorskip("torch")
    _compare_with_torch(L.kron, torch.kron, *_arrays(*shapes))
    a, b = _arrays(*shapes)
    np.testing.assert_array_equal(L.kron(a, b), np.kron(a, b))


@pytest.mark.parametrize(
    "shapes, dim",
    [(((3,), (3,)), -1), (((4, 3), (4, 3)), -1), (((2, 1, 3), (4, 3)), -1), (((3, 4), (3, 4)), 0)],
)
def test_cross_matches_torch(shapes, dim):
    torch = pytest.importorskip("torch")
    arrays = _arrays(*shapes)
    _compare_with_torch(
        lambda a, b: L.cross(a, b, axis=dim),
        lambda a, b: torch.linalg.cross(*torch.broadcast_tensors(a, b), dim=dim),
        *arrays,
    )
    np.testing.assert_allclose(L.cross(*arrays, dim=dim), np.cross(*arrays, axis=dim), rtol=1e-12)


def test_cross_with_separate_axes_matches_torch_and_numpy():
    torch = pytest.importorskip("torch")
    a, b = _arrays((3, 2), (2, 3))
    _compare_with_torch(
        lambda s, t: L.cross(s, t, axisa=0, axisb=1, axisc=0),
        lambda s, t: torch.linalg.cross(s.T, t).T,
        a,
        b,
    )
    np.testing.assert_allclose(
        L.cross(a, b, axisa=0, axisb=1, axisc=0),
        np.cross(a, b, axisa=0, axisb=1, axisc=0),
        rtol=1e-12,
    )


@pytest.mark.parametrize("shapes", [((2,), (2,)), ((4, 2), (4, 2)), ((2,), (3,)), ((4, 3), (2,))])
def test_cross_of_two_vectors_matches_numpy_and_its_gradient_finite_differences(shapes):
    arrays = _arrays(*shapes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy 2 deprecates 2-vectors
        expected = np.cross(*arrays)
    np.testing.assert_allclose(L.cross(*arrays), expected, rtol=1e-12)
    assert cr.gradcheck(L.cross, arrays)
    assert cr.gradgradcheck(L.cross, arrays)


@pytest.mark.parametrize(
    "shapes",
    [
        ((4,), (4,)),
        ((2, 3), (3, 4)),
        ((2, 3, 4), (4,)),
        ((3,), (2, 3, 4)),
        ((2, 3), (4, 3, 2)),
        ((2, 2, 3), (4, 3, 2)),
        ((2, 3, 4), (4, 5)),
    ],
)
def test_dot_matches_numpy_and_torch(shapes):
    torch = pytest.importorskip("torch")
    arrays = _arrays(*shapes)
    np.testing.assert_allclose(L.dot(*arrays), np.dot(*arrays), rtol=1e-12)
    # PyTorch's dot takes vectors only: its N-d equivalent is this tensordot.
    _compare_with_torch(
        L.dot,
        lambda a, b: torch.tensordot(a, b, dims=([a.ndim - 1], [max(b.ndim - 2, 0)])),
        *arrays,
    )


def test_dot_of_0d_operands_multiplies():
    a, b = _arrays((), (2, 3))
    np.testing.assert_allclose(L.dot(a, b), np.dot(a, b), rtol=1e-15)
    np.testing.assert_allclose(L.dot(b, 2.0), np.dot(b, 2.0), rtol=1e-15)
    assert L.dot(2.0, 3.0) == 6.0


@pytest.mark.parametrize("shapes", [((4,), (4,)), ((2, 3), (3, 2)), ((6,), (2, 3))])
def test_vdot_matches_torch(shapes):
    _compare_with_torch(L.vdot, lambda a, b: a.flatten().vdot(b.flatten()), *_arrays(*shapes))


def test_outer_and_vdot_flatten_their_inputs():
    a, b = _arrays((2, 2), (3,))
    np.testing.assert_allclose(L.outer(a, b), np.outer(a, b), rtol=1e-15)
    np.testing.assert_allclose(L.vdot(a, b[:2].repeat(2)), np.vdot(a, b[:2].repeat(2)), rtol=1e-12)


# ----------------------------------------------------------------------- einsum
@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ij,jk->ik", ((3, 4), (4, 2))),
        ("ij,jk", ((3, 4), (4, 2))),
        ("bij,bjk->bik", ((2, 3, 4), (2, 4, 5))),
        ("ii->i", ((3, 3),)),
        ("ii", ((3, 3),)),
        ("i,i->", ((4,), (4,))),
        ("i,j->ij", ((3,), (4,))),
        ("...ij,...jk->...ik", ((2, 3, 4), (4, 5))),
        ("...ij,...jk", ((2, 1, 3, 4), (5, 4, 2))),
        ("i...->...", ((3, 2, 4),)),
        ("ij...,jk...->ik...", ((2, 3, 4), (3, 5, 4))),
        ("ij,ij->ij", ((3, 1), (3, 4))),
        ("ij,ij->i", ((3, 1), (3, 4))),
        ("ij,jk->ik", ((3, 1), (4, 2))),
        ("...j,...j->...", ((3, 1), (3, 4))),
        ("...j,...j->...", ((2, 1, 3), (4, 3))),
        ("ii,ij->j", ((1, 1), (3, 2))),
        ("bn,anm,bm->ba", ((2, 3), (4, 3, 5), (2, 5))),
    ],
)
def test_einsum_matches_torch(subscripts, shapes):
    torch = pytest.importorskip("torch")
    arrays = _arrays(*shapes)
    _compare_with_torch(
        lambda *xs: L.einsum(subscripts, *xs), lambda *xs: torch.einsum(subscripts, *xs), *arrays
    )
    np.testing.assert_allclose(
        L.einsum(subscripts, *arrays), np.einsum(subscripts, *arrays), rtol=1e-12
    )


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ij,ij->ij", ((3, 1), (3, 4))),
        ("...j,...j->...", ((3, 1), (3, 4))),
        ("ij,jk->ik", ((3, 1), (4, 2))),
        ("ii,ij->j", ((1, 1), (3, 2))),
    ],
)
def test_einsum_sums_the_gradient_of_a_broadcast_length_1_axis_back(subscripts, shapes):
    # Regression: the forward broadcast these, the backward crashed reshaping the gradient.
    x, y = _arrays(*shapes)
    a, b = cr.tensor(x, requires_grad=True), cr.tensor(y, requires_grad=True)
    L.einsum(subscripts, a, b).sum().backward()
    assert a.grad.shape == x.shape and b.grad.shape == y.shape
    assert cr.gradcheck(lambda s, t: L.einsum(subscripts, s, t), [x, y])
    assert cr.gradgradcheck(lambda s, t: L.einsum(subscripts, s, t), [x, y])


def test_einsum_broadcast_gradient_is_the_sum_over_the_stretched_axis():
    x, y = np.ones((3, 1)), np.arange(12.0).reshape(3, 4)
    a = cr.tensor(x, requires_grad=True)
    L.einsum("ij,ij->ij", a, y).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), y.sum(axis=1, keepdims=True))


def test_einsum_sublist_and_list_forms_equal_the_string_form():
    a, b, c = _arrays((2, 3), (3, 4), (2, 3, 4))
    expected = np.einsum("ij,jk->ik", a, b)
    np.testing.assert_allclose(L.einsum(a, [0, 1], b, [1, 2], [0, 2]), expected, rtol=1e-12)
    np.testing.assert_allclose(L.einsum(a, [0, 1], b, [1, 2]), expected, rtol=1e-12)
    np.testing.assert_allclose(L.einsum("ij,jk", [a, b]), expected, rtol=1e-12)
    np.testing.assert_allclose(L.einsum("ij,jk->ik", (a, b)), expected, rtol=1e-12)
    # Implicit output in the sublist form: labels sorted, 0-25 before 26-51, as NumPy.
    np.testing.assert_allclose(
        L.einsum(a, [26, 1], b, [1, 0]), np.einsum(a, [26, 1], b, [1, 0]), rtol=1e-12
    )
    np.testing.assert_allclose(
        L.einsum(c, [Ellipsis, 2], b, [1, 2], [Ellipsis, 1]),
        np.einsum(c, [Ellipsis, 2], b, [1, 2], [Ellipsis, 1]),
        rtol=1e-12,
    )
    # A single nested list naming one operand stays one operand, as in NumPy.
    np.testing.assert_allclose(L.einsum("ij->j", [[1.0, 2.0], [3.0, 4.0]]), [4.0, 6.0])


def test_einsum_sublist_and_list_forms_differentiate_like_torch():
    torch = pytest.importorskip("torch")
    arrays = _arrays((2, 3), (3, 4))
    _compare_with_torch(
        lambda a, b: L.einsum(a, [0, 1], b, [1, 2], [0, 2]),
        lambda a, b: torch.einsum(a, [0, 1], b, [1, 2], [0, 2]),
        *arrays,
    )
    _compare_with_torch(
        lambda a, b: L.einsum("ij,jk", [a, b]), lambda a, b: torch.einsum("ij,jk", [a, b]), *arrays
    )


def test_einsum_accepts_spaces_and_0d_operands():
    a, b = _arrays((2, 3), ())
    np.testing.assert_allclose(L.einsum("i j -> j", a), np.einsum("ij->j", a), rtol=1e-12)
    np.testing.assert_allclose(L.einsum(",ij->ji", b, a), b * a.T, rtol=1e-15)


@pytest.mark.parametrize(
    "subscripts, shapes, error",
    [
        ("ij->i->j", ((2, 3),), ValueError),
        ("ij#", ((2, 3, 4),), ValueError),
        ("ij-i", ((2, 3),), ValueError),
        ("ij>i", ((2, 3),), ValueError),
        ("i.j", ((2, 3),), ValueError),
        ("......", ((2, 3),), ValueError),
        ("ij->i,j", ((2, 3),), ValueError),
        ("ij->ii", ((2, 3),), ValueError),
        ("ij->k", ((2, 3),), ValueError),
        ("ij,jk", ((2, 3),), cr.ShapeError),
        ("ij", ((2, 3), (3,)), cr.ShapeError),
        ("ij", ((2, 3, 4),), cr.ShapeError),
        ("ijk...", ((2, 3),), cr.ShapeError),
        ("ii", ((2, 3),), cr.ShapeError),
        ("ij,jk->ik", ((2, 3), (4, 5)), cr.ShapeError),
    ],
)
def test_einsum_malformed_subscripts_raise_naming_them(subscripts, shapes, error):
    operands = [cr.tensor(x) for x in _arrays(*shapes)]
    with pytest.raises(error, match="^einsum") as info:
        L.einsum(subscripts, *operands)
    assert repr(subscripts) in str(info.value)
    assert issubclass(error, ValueError)  # ShapeError is one too


def test_einsum_bad_sublists_raise():
    a = np.ones((2, 3))
    with pytest.raises(ValueError, match="einsum.*52"):
        L.einsum(a, [0, 52])
    with pytest.raises(TypeError, match="einsum"):
        L.einsum(a, 3)


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "name, call",
    [
        ("tril", lambda: L.tril(np.float64(1.0))),
        ("diagonal", lambda: L.diagonal(np.ones(3))),
        ("diagonal", lambda: L.diagonal(np.ones((2, 2)), 0, 1, -1)),
        ("trace", lambda: L.trace(cr.ones(3))),
        ("diag", lambda: L.diag(np.ones((2, 2, 2)))),
        ("tensordot", lambda: L.tensordot(np.ones((2, 3)), np.ones((4, 3)), 1)),
        ("tensordot", lambda: L.tensordot(np.ones((2, 3)), np.ones((3, 4)), ((1, 0), (0,)))),
        ("tensordot", lambda: L.tensordot(np.ones((2, 3)), np.ones((3, 4)), 3)),
        ("inner", lambda: L.inner(np.ones((2, 3)), np.ones(4))),
        ("dot", lambda: L.dot(cr.ones(2, 3), cr.ones(4, 2, 3))),
        ("dot", lambda: L.dot(cr.ones(3), cr.ones(4))),
        ("vdot", lambda: L.vdot(np.ones(3), np.ones(4))),
        ("cross", lambda: L.cross(np.ones(4), np.ones(3))),
        ("cross", lambda: L.cross(np.ones((2, 3)), np.ones((4, 3)))),
        ("cross", lambda: L.cross(np.float64(1.0), np.ones(3))),
    ],
)
def test_shape_errors_name_the_op(name, call):
    with pytest.raises(cr.ShapeError, match=f"^{name}"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: L.diagonal(np.ones((2, 2)), axis1=2),
        lambda: L.trace(np.ones((2, 2)), axis2=-3),
        lambda: L.cross(np.ones(3), np.ones(3), axisc=1),
        lambda: L.tensordot(np.ones((2, 3)), np.ones((3, 4)), ((2,), (0,))),
    ],
)
def test_axes_out_of_range_are_axis_errors(call):
    with pytest.raises(np.exceptions.AxisError):
        call()


def test_non_int_offsets_and_unknown_keywords_are_type_errors():
    with pytest.raises(TypeError, match="tril"):
        L.tril(np.ones((2, 2)), 0.5)
    with pytest.raises(TypeError, match="diagonal"):
        L.diagonal(np.ones((2, 2)), dims=1)
    with pytest.raises(TypeError, match="tensordot"):
        L.tensordot(np.ones(2), np.ones(2), axes=None)


def test_einsum_sums_an_ellipsis_the_output_leaves_out():
    # PyTorch's rule (NumPy refuses): 'i...->i' sums the ellipsis axes.
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(cr.einsum("i...->i", x), x.sum(axis=1))
