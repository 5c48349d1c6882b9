"""cr.linalg beyond the generated suite: values against NumPy, gradients against PyTorch in
float64, determinants of singular matrices, NumPy 2's broadcasting in solve, singular
matrices as LinAlgError, norms at zero, and the decompositions' edge cases."""

import itertools

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(20240)
# Both sides compute the same float64 formulas through different LAPACK calls and
# association orders: they agree to rounding (~1e-13 at these sizes), far inside 1e-9.
TIGHT = {"rtol": 1e-9, "atol": 1e-11}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def leaf(values):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def gradients(function, arrays, cotangent=None):
    """The output and the input gradients of ``function`` under chainrule."""
    tensors = [leaf(a) for a in arrays]
    out = function(*tensors)
    cotangent = np.ones(out.shape) if cotangent is None else cotangent
    out.backward(cotangent)
    return out.numpy(), [t.grad.numpy() for t in tensors]


def torch_gradients(torch, function, arrays, cotangent=None):
    tensors = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = function(*tensors)
    cotangent = np.ones(tuple(out.shape)) if cotangent is None else cotangent
    out.backward(torch.tensor(cotangent))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def assert_matches_torch(torch, ours, theirs, arrays):
    """``ours`` (chainrule) and ``theirs`` (PyTorch) agree in value and in the gradient
    of a random cotangent."""
    cotangent = RNG.standard_normal(ours(*[cr.tensor(a) for a in arrays]).shape)
    out, grads = gradients(ours, arrays, cotangent)
    expected, expected_grads = torch_gradients(torch, theirs, arrays, cotangent)
    np.testing.assert_allclose(out, expected, **TIGHT)
    for i, (g, e) in enumerate(zip(grads, expected_grads)):
        np.testing.assert_allclose(g, e, **TIGHT, err_msg=f"input {i}")


def cofactors(a):
    """adj(a)^T from its minors, the textbook way (independent of any factorisation)."""
    n = a.shape[-1]
    out = np.zeros_like(a)
    for i, j in itertools.product(range(n), range(n)):
        minor = np.delete(np.delete(a, i, axis=-2), j, axis=-1)
        out[..., i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return out


def low_rank(n, rank, batch=()):
    return RNG.uniform(-1, 1, batch + (n, rank)) @ RNG.uniform(-1, 1, batch + (rank, n))


# ----------------------------------------------------------------------- det
@pytest.mark.parametrize(
    "a",
    [
        low_rank(3, 2),
        low_rank(4, 3),
        low_rank(4, 2),
        low_rank(4, 1),
        np.zeros((3, 3)),
        np.array([[1.0, 2.0], [2.0, 4.0]]),
        np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
        np.stack([low_rank(3, 2), np.eye(3) + 0.1 * RNG.standard_normal((3, 3))]),
    ],
    ids=[
        "rank2of3",
        "rank3of4",
        "rank2of4",
        "rank1of4",
        "zero",
        "exact2x2",
        "exact3x3",
        "mixed-batch",
    ],
)
def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix(a):
    _, (grad,) = gradients(cr.linalg.det, [a])
    assert np.all(np.isfinite(grad))
    # Cofactors are degree n - 1 polynomials in entries of size <= 1: errors ~1e-15.
    np.testing.assert_allclose(grad, cofactors(a), rtol=1e-9, atol=1e-12)


def test_det_gradient_at_singular_matrices_passes_gradcheck():
    # det is a polynomial: central differences are exact up to rounding at any rank.
    for a in (low_rank(3, 2), low_rank(4, 2), np.zeros((3, 3))):
        assert cr.gradcheck(cr.linalg.det, [a])


def test_det_matches_torch_at_rank_deficient_matrices(torch):
    # PyTorch gives 0 where LU meets an exact zero pivot ([[1, 2], [2, 4]]), so compare on
    # matrices singular only to rounding, where both take the SVD's cofactors.
    for a in (low_rank(3, 2), low_rank(4, 2), low_rank(3, 2, batch=(2,))):
        assert_matches_torch(torch, cr.linalg.det, torch.linalg.det, [a])


def test_det_second_order_matches_torch(torch):
    hessian = torch.autograd.functional.hessian
    for a in (RNG.standard_normal((3, 3)), np.eye(3), low_rank(3, 2)):
        ours = cr.hessian(cr.linalg.det)(a)
        theirs = hessian(torch.linalg.det, torch.tensor(a)).numpy()
        np.testing.assert_allclose(ours, theirs, **TIGHT)


def test_det_gradient_in_float32_stays_float32_at_singular_matrices():
    x = cr.tensor(low_rank(3, 2).astype(np.float32), requires_grad=True)
    cr.linalg.det(x).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(
        x.grad.numpy(), cofactors(x.numpy().astype(np.float64)), rtol=1e-4, atol=1e-5
    )  # float32 rounding, ~1e-7 relative


# ----------------------------------------------------------------------- solve
SOLVE_SHAPES = [
    ((3, 3), (3,)),
    ((3, 3), (3, 2)),
    ((2, 3, 3), (3,)),
    ((2, 3, 3), (2, 3, 1)),
    ((2, 3, 3), (3, 2)),
    ((3, 3), (2, 3, 2)),
    ((2, 1, 3, 3), (4, 3, 1)),
    ((1, 3, 3), (5, 3, 4)),
    ((0, 3, 3), (3,)),
]


def _system(a_shape, b_shape):
    return (RNG.uniform(-1, 1, a_shape) + 3 * np.eye(a_shape[-1]), RNG.standard_normal(b_shape))


@pytest.mark.parametrize("a_shape, b_shape", SOLVE_SHAPES)
def test_solve_follows_numpy_2_broadcasting_forward_and_backward(a_shape, b_shape, torch):
    a, b = _system(a_shape, b_shape)
    np.testing.assert_allclose(cr.linalg.solve(a, b), np.linalg.solve(a, b), **TIGHT)
    out = cr.linalg.solve(cr.tensor(a), cr.tensor(b))
    assert out.shape == np.linalg.solve(a, b).shape

    def theirs(x, y):  # PyTorch's own rule differs for (..., n) b: spell NumPy's out
        if y.ndim == 1:
            return torch.linalg.solve(x, y.unsqueeze(-1)).squeeze(-1)
        return torch.linalg.solve(x, y)

    assert_matches_torch(torch, cr.linalg.solve, theirs, [a, b])


def test_batched_solve_with_a_vector_passes_gradcheck_to_second_order():
    a, b = _system((2, 3, 3), (3,))
    assert cr.gradcheck(cr.linalg.solve, [a, b])
    assert cr.gradgradcheck(cr.linalg.solve, [a, b])


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((3, 3), (4,)),
        ((3, 3), (4, 2)),
        ((2, 3, 3), (3, 3, 1)),
        ((3, 3), ()),
        ((2, 3, 3), (2, 3)),  # a matrix b: 2 rows, not 3
        ((3, 4), (3,)),
    ],
)
def test_solve_shape_errors_name_the_op_and_shapes(a_shape, b_shape):
    with pytest.raises(cr.ShapeError, match=r"^solve.*" + str(a_shape[-1])):
        cr.linalg.solve(cr.tensor(np.ones(a_shape)), cr.tensor(np.ones(b_shape)))


# ----------------------------------------------------------------------- singular -> LinAlgError
@pytest.mark.parametrize(
    "name, call, shape",
    [
        ("inv", lambda a: cr.linalg.inv(a), (3, 3)),
        ("inv", lambda a: cr.linalg.inv(a), (2, 3, 3)),
        ("solve", lambda a: cr.linalg.solve(a, np.ones(3)), (3, 3)),
        ("solve", lambda a: cr.linalg.solve(a, np.ones((2, 3, 2))), (2, 3, 3)),
        ("inv", lambda a: cr.linalg.matrix_power(a, -2), (3, 3)),
    ],
)
@pytest.mark.parametrize("wrap", [np.asarray, cr.tensor, leaf], ids=["array", "tensor", "leaf"])
def test_a_singular_matrix_raises_linalgerror_naming_the_op(name, call, shape, wrap):
    with pytest.raises(np.linalg.LinAlgError) as info:
        call(wrap(np.zeros(shape)))
    assert not isinstance(info.value, cr.ShapeError)
    assert str(info.value) == f"{name}: singular matrix (shape {shape})"


def test_cholesky_of_an_indefinite_matrix_raises_linalgerror_naming_the_op():
    for wrap in (np.asarray, leaf):
        with pytest.raises(np.linalg.LinAlgError, match=r"^cholesky: .*\(shape \(2, 2\)\)"):
            cr.linalg.cholesky(wrap(-np.eye(2)))


# ----------------------------------------------------------------------- norm
VECTOR_ORDS = [None, 2, 1, np.inf, -np.inf, 0, 0.5, 0.25, 3, 1.5, -1, -2.5, 7]
MATRIX_ORDS = [None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf]


@pytest.mark.parametrize("ord", VECTOR_ORDS)
def test_vector_norm_gradient_at_zero_is_zero(ord):
    for shape, axis in (((4,), None), ((3, 4), 1), ((2, 3, 4), 0)):
        _, (grad,) = gradients(lambda x, axis=axis: cr.linalg.norm(x, ord, axis), [np.zeros(shape)])
        np.testing.assert_array_equal(grad, np.zeros(shape))


@pytest.mark.parametrize("ord", MATRIX_ORDS)
def test_matrix_norm_gradient_at_zero_is_zero(ord):
    for shape, axis in (((3, 4), None), ((2, 3, 4), (2, 0)), ((4, 3, 2), (-2, -1))):
        _, (grad,) = gradients(lambda x, axis=axis: cr.linalg.norm(x, ord, axis), [np.zeros(shape)])
        np.testing.assert_array_equal(grad, np.zeros(shape))


def test_default_norm_gradient_at_zero_is_zero_for_any_shape():
    for shape in ((), (4,), (2, 3), (2, 3, 4)):
        _, (grad,) = gradients(cr.linalg.norm, [np.zeros(shape)])
        np.testing.assert_array_equal(grad, np.zeros(shape))


@pytest.mark.parametrize("ord", [ord for ord in VECTOR_ORDS if ord not in (None, 0)])
def test_vector_norm_with_zero_entries_matches_torch(ord, torch):
    x = np.array([[0.0, 1.5, -2.0, 0.0, 0.3], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.norm(t, ord, axis=1),
        lambda t: torch.linalg.vector_norm(t, ord, dim=1),
        [x],
    )


def _norm_cases():
    cases = [((5,), ord, None, keep) for ord in VECTOR_ORDS for keep in (False, True)]
    cases += [((3, 4), ord, None, keep) for ord in MATRIX_ORDS for keep in (False, True)]
    cases += [
        ((2, 3, 4), ord, axis, keep)
        for ord in MATRIX_ORDS
        for axis in ((1, 2), (2, 0), (-1, -3))
        for keep in (False, True)
    ]
    cases += [((2, 3, 4), ord, axis, True) for ord in VECTOR_ORDS for axis in (0, -1)]
    return cases + [
        ((2, 3, 4), None, None, True),
        ((), None, None, False),
        ((0, 3), None, None, False),
        ((0, 3), 1, 1, False),
        ((3, 0), np.inf, 1, False),
        ((0, 3), np.inf, None, False),
    ]


@pytest.mark.parametrize("shape, ord, axis, keepdims", _norm_cases())
def test_norm_values_follow_numpy(shape, ord, axis, keepdims):
    x = RNG.standard_normal(shape)
    ours = cr.linalg.norm(cr.tensor(x), ord, axis, keepdims)
    with np.errstate(divide="ignore"):
        expected = np.linalg.norm(x, ord, axis, keepdims)
    assert ours.shape == np.shape(expected)
    np.testing.assert_allclose(ours.numpy(), expected, **TIGHT)


def test_norm_of_integers_is_a_float_as_in_numpy():
    x = np.array([[3, 0], [0, 4]])
    assert cr.linalg.norm(cr.tensor(x)).item() == 5.0
    assert cr.linalg.norm(x, "nuc") == 7.0


@pytest.mark.parametrize("ord", ["nuc", 2, -2, "fro", 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("axis", [(-2, -1), (0, 2), (2, 1)])
def test_matrix_norm_gradients_match_torch(ord, axis, torch):
    x = RNG.standard_normal((3, 2, 4))
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.norm(t, ord, axis, keepdims=True),
        lambda t: torch.linalg.matrix_norm(t, ord, dim=axis, keepdim=True),
        [x],
    )


def test_norm_takes_torchs_dim_and_keepdim(torch):
    x = RNG.standard_normal((2, 3, 4))
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.norm(t, "nuc", dim=(0, 2), keepdim=True),
        lambda t: torch.linalg.norm(t, "nuc", dim=(0, 2), keepdim=True),
        [x],
    )
    with pytest.raises(TypeError, match="norm"):
        cr.linalg.norm(x, axes=0)


def test_array_api_norms_match_torch(torch):
    x = RNG.standard_normal((2, 3, 4))
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.vector_norm(t, 3, axis=(0, 2)),
        lambda t: torch.linalg.vector_norm(t, 3, dim=(0, 2)),
        [x],
    )
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.vector_norm(t, dim=-1, keepdim=True),
        lambda t: torch.linalg.vector_norm(t, dim=-1, keepdim=True),
        [x],
    )
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.matrix_norm(t, "nuc"),
        lambda t: torch.linalg.matrix_norm(t, "nuc"),
        [x],
    )
    np.testing.assert_allclose(cr.linalg.vector_norm(x), np.linalg.vector_norm(x), **TIGHT)
    np.testing.assert_allclose(
        cr.linalg.matrix_norm(x, ord=2), np.linalg.matrix_norm(x, ord=2), **TIGHT
    )


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda x: cr.linalg.norm(x, "nuc", axis=0), ValueError, "invalid norm order 'nuc'"),
        (lambda x: cr.linalg.norm(x[0], 3), ValueError, "invalid norm order 3 for matrices"),
        (lambda x: cr.linalg.norm(x, "abc", axis=(0, 1)), ValueError, "invalid norm order"),
        (lambda x: cr.linalg.norm(x, 2, axis=(0, 1, 2)), cr.ShapeError, "3 axes"),
        (lambda x: cr.linalg.norm(x, 2, axis=(1, -2)), cr.ShapeError, "duplicate axes"),
        (lambda x: cr.linalg.norm(x, 1), cr.ShapeError, r"shape \(2, 3, 4\)"),
        (lambda x: cr.linalg.norm(x, 1, axis=3), np.exceptions.AxisError, "axis 3"),
    ],
)
def test_norm_errors_name_the_op(call, error, message):
    with pytest.raises(error, match=message):
        call(cr.tensor(np.ones((2, 3, 4))))


# ----------------------------------------------------------------------- svd
def _svd_invariants(concatenate, constant, u, s, vh):
    """Sign-free functions of an SVD, for chainrule and PyTorch alike."""
    k = s.shape[-1]
    u, vh = u[..., :k], vh[..., :k, :]
    projectors = (u * constant(np.arange(1.0, k + 1))) @ u.swapaxes(-1, -2)
    return concatenate(
        [
            s.reshape(-1),
            projectors.reshape(-1),
            abs(vh).reshape(-1),
            ((u * s[..., None, :]) @ vh).reshape(-1),
        ]
    )


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3), (2, 1, 5, 2)])
@pytest.mark.parametrize("full_matrices", [False, True])
def test_svd_values_follow_numpy(shape, full_matrices):
    a = RNG.standard_normal(shape)
    for ours, expected in zip(
        cr.linalg.svd(cr.tensor(a), full_matrices), np.linalg.svd(a, full_matrices)
    ):
        assert ours.shape == expected.shape
        np.testing.assert_allclose(ours.numpy(), expected, **TIGHT)
    result = cr.linalg.svd(a, full_matrices)
    assert (result.U.shape, result.S.shape, result.Vh.shape) == tuple(
        x.shape for x in np.linalg.svd(a, full_matrices)
    )
    np.testing.assert_allclose(
        cr.linalg.svd(cr.tensor(a), compute_uv=False).numpy(),
        np.linalg.svd(a, compute_uv=False),
        **TIGHT,
    )
    np.testing.assert_allclose(cr.linalg.svdvals(a), np.linalg.svdvals(a), **TIGHT)


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3)])
def test_svd_gradients_match_torch(shape, torch):
    a = RNG.standard_normal(shape)

    for full_matrices in (False, True):
        assert_matches_torch(
            torch,
            lambda t, full=full_matrices: _svd_invariants(
                cr.concatenate, np.asarray, *cr.linalg.svd(t, full)
            ),
            lambda t: _svd_invariants(
                torch.cat, torch.tensor, *torch.linalg.svd(t, full_matrices=False)
            ),
            [a],
        )
    assert_matches_torch(
        torch, lambda t: cr.linalg.svd(t, compute_uv=False), torch.linalg.svdvals, [a]
    )


def test_svd_full_matrices_gradient_through_the_extra_columns_raises():
    x = leaf(RNG.standard_normal((4, 3)))
    u = cr.linalg.svd(x)[0]
    with pytest.raises(ValueError, match="svd: .*full_matrices=False"):
        u[:, 3].sum().backward()
    x = leaf(RNG.standard_normal((2, 4)))
    with pytest.raises(ValueError, match="full_matrices=False"):
        cr.linalg.svd(x)[2][..., 3, :].sum().backward()


def test_hermitian_svd_follows_numpy_and_its_gradient_is_the_symmetric_svds():
    a = RNG.standard_normal((2, 4, 4))
    a = a + a.swapaxes(-1, -2)
    for ours, expected in zip(cr.linalg.svd(a, hermitian=True), np.linalg.svd(a, hermitian=True)):
        np.testing.assert_allclose(ours, expected, **TIGHT)
    np.testing.assert_allclose(
        cr.linalg.svd(a, compute_uv=False, hermitian=True),
        np.linalg.svd(a, compute_uv=False, hermitian=True),
        **TIGHT,
    )
    # On symmetric input the singular values are those of the plain SVD, so are their
    # gradients (the plain SVD's is already symmetric there).
    _, (ours,) = gradients(lambda t: cr.linalg.svd(t, compute_uv=False, hermitian=True), [a])
    _, (plain,) = gradients(lambda t: cr.linalg.svd(t, compute_uv=False), [a])
    np.testing.assert_allclose(ours, plain, **TIGHT)


def test_svd_values_gradient_is_finite_at_repeated_singular_values():
    # Only the vectors need distinct values: d sum(s) / dA = U V^T at the identity is I.
    _, (grad,) = gradients(lambda t: cr.linalg.svd(t, compute_uv=False).sum(), [np.eye(3)])
    np.testing.assert_allclose(grad, np.eye(3), **TIGHT)


# ----------------------------------------------------------------------- eigh, eig
def _symmetric(shape):
    a = RNG.standard_normal(shape)
    return a + a.swapaxes(-1, -2)


@pytest.mark.parametrize("UPLO", ["L", "U", "l"])
def test_eigh_values_follow_numpy_reading_one_triangle(UPLO):
    a = RNG.standard_normal((2, 4, 4))  # not symmetric: NumPy reads one triangle
    result = cr.linalg.eigh(cr.tensor(a), UPLO)
    expected = np.linalg.eigh(a, UPLO.upper())
    np.testing.assert_allclose(result.eigenvalues.numpy(), expected.eigenvalues, **TIGHT)
    np.testing.assert_allclose(result.eigenvectors.numpy(), expected.eigenvectors, **TIGHT)
    np.testing.assert_allclose(cr.linalg.eigvalsh(a, UPLO), np.linalg.eigvalsh(a, UPLO), **TIGHT)


def test_eigh_gradients_match_torch(torch):
    a = _symmetric((2, 4, 4))
    weights = np.arange(1.0, 5.0)

    def ours(t):
        w, v = cr.linalg.eigh(t)
        return cr.concatenate(
            [w.reshape(-1), ((v * weights) @ v.swapaxes(-1, -2)).reshape(-1), abs(v).reshape(-1)]
        )

    def theirs(t):
        w, v = torch.linalg.eigh(t)
        return torch.cat(
            [w.reshape(-1), ((v * torch.tensor(weights)) @ v.mT).reshape(-1), v.abs().reshape(-1)]
        )

    assert_matches_torch(torch, ours, theirs, [a])
    assert_matches_torch(torch, cr.linalg.eigvalsh, torch.linalg.eigvalsh, [a])


def test_eigvalsh_gradient_is_finite_at_repeated_eigenvalues():
    # sum(w^2) = |A|_F^2, so its gradient is 2A, whatever the multiplicities.
    a = np.diag([1.0, 1.0, 2.0])
    _, (grad,) = gradients(lambda t: (cr.linalg.eigvalsh(t) ** 2).sum(), [a])
    np.testing.assert_allclose(grad, 2 * a, **TIGHT)


def _real_spectrum(batch=()):
    p = np.eye(3) + 0.3 * RNG.standard_normal(batch + (3, 3))
    return (p * np.array([1.0, -2.0, 3.5])) @ np.linalg.inv(p)


def test_eig_values_and_gradients(torch):
    a = _real_spectrum((2,))
    result, expected = cr.linalg.eig(a), np.linalg.eig(a)
    np.testing.assert_allclose(result.eigenvalues, expected.eigenvalues, **TIGHT)
    np.testing.assert_allclose(result.eigenvectors, expected.eigenvectors, **TIGHT)
    np.testing.assert_allclose(cr.linalg.eigvals(a), np.linalg.eigvals(a), **TIGHT)

    def ours(t):
        w, v = cr.linalg.eig(t)
        return cr.concatenate([w.reshape(-1), abs(v).reshape(-1)])

    def theirs(t):  # PyTorch's are complex: the same real quantities, phase-free
        w, v = torch.linalg.eig(t)
        return torch.cat([w.real.reshape(-1), v.abs().reshape(-1)])

    assert_matches_torch(torch, ours, theirs, [a])


def test_eig_with_complex_eigenvalues_raises_a_clear_error():
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    for a in (rotation, cr.tensor(rotation), leaf(rotation)):
        with pytest.raises(np.linalg.LinAlgError, match="eig: complex eigenvalues"):
            cr.linalg.eig(a)


# ----------------------------------------------------------------------- qr
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (3, 3), (2, 4, 3), (2, 3, 5)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r", "raw"])
def test_qr_values_follow_numpy(shape, mode):
    a = RNG.standard_normal(shape)
    ours, expected = cr.linalg.qr(cr.tensor(a), mode), np.linalg.qr(a, mode)
    if mode == "r":
        ours, expected = (ours,), (expected,)
    for x, e in zip(ours, expected):
        assert x.shape == e.shape
        np.testing.assert_allclose(x.numpy(), e, **TIGHT)


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (3, 3), (2, 4, 3), (2, 3, 5)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr_gradients_match_torch(shape, mode, torch):
    a = RNG.standard_normal(shape)
    k = min(shape[-2:])

    def ours(t):  # complete's extra columns of Q (tall a) have no gradient: left out
        q, r = cr.linalg.qr(t, mode)
        return cr.concatenate([q[..., :k].reshape(-1), r[..., :k, :].reshape(-1)])

    def theirs(t):
        q, r = torch.linalg.qr(t, "reduced")
        return torch.cat([q.reshape(-1), r.reshape(-1)])

    assert_matches_torch(torch, ours, theirs, [a])
    assert_matches_torch(
        torch, lambda t: cr.linalg.qr(t, "r"), lambda t: torch.linalg.qr(t)[1], [a]
    )  # PyTorch's 'r' has no grad


def test_qr_complete_gradient_through_the_extra_columns_raises():
    x = leaf(RNG.standard_normal((4, 3)))
    q = cr.linalg.qr(x, "complete")[0]
    with pytest.raises(ValueError, match="qr: .*mode='reduced'"):
        q.sum().backward()


def test_qr_raw_has_no_gradient_and_bad_modes_raise():
    h, tau = cr.linalg.qr(leaf(RNG.standard_normal((3, 2))), "raw")
    assert not h.requires_grad and not tau.requires_grad
    with pytest.raises(ValueError, match="qr: unrecognized mode 'full'"):
        cr.linalg.qr(np.eye(2), "full")
    with pytest.raises(cr.ShapeError, match="qr"):
        cr.linalg.qr(np.ones(3))


# ----------------------------------------------------------------------- pinv, lstsq
@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (2, 3, 3), (0, 3)])
def test_pinv_values_follow_numpy(shape):
    a = RNG.standard_normal(shape)
    np.testing.assert_allclose(cr.linalg.pinv(cr.tensor(a)).numpy(), np.linalg.pinv(a), **TIGHT)
    np.testing.assert_allclose(cr.linalg.pinv(a, rtol=None), np.linalg.pinv(a, rtol=None), **TIGHT)
    rank_one = np.ones(shape)
    np.testing.assert_allclose(
        cr.linalg.pinv(rank_one, rcond=1e-8), np.linalg.pinv(rank_one, rcond=1e-8), **TIGHT
    )


def test_pinv_rejects_both_rcond_and_rtol():
    with pytest.raises(ValueError, match="rtol and rcond"):
        cr.linalg.pinv(np.eye(2), rcond=1e-3, rtol=1e-3)


@pytest.mark.parametrize(
    "a",
    [
        RNG.standard_normal((3, 4)),
        RNG.standard_normal((2, 4, 3)),
        np.eye(3),
        np.diag([2.0, 2.0, 1.0]),
    ],
    ids=["wide", "tall-batch", "identity", "repeated"],
)
def test_pinv_gradients_match_torch_even_at_repeated_singular_values(a, torch):
    assert_matches_torch(torch, cr.linalg.pinv, torch.linalg.pinv, [a])


def test_pinv_of_rank_deficient_and_hermitian_matrices_matches_torch(torch):
    a = low_rank(4, 2)
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.pinv(t, rcond=1e-8),
        lambda t: torch.linalg.pinv(t, rtol=1e-8),
        [a],
    )
    s = _symmetric((4, 4))
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.pinv(t, hermitian=True),
        lambda t: torch.linalg.pinv(t, hermitian=True),
        [s],
    )


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((6, 3), (6,)), ((6, 3), (6, 2)), ((3, 6), (3,)), ((4, 4), (4, 3)), ((0, 3), (0,))],
)
def test_lstsq_follows_numpy(a_shape, b_shape):
    a, b = RNG.standard_normal(a_shape), RNG.standard_normal(b_shape)
    ours, expected = cr.linalg.lstsq(cr.tensor(a), cr.tensor(b)), np.linalg.lstsq(a, b)
    for x, e in zip(ours, expected):
        assert np.shape(x) == np.shape(e)
        np.testing.assert_allclose(np.asarray(x), e, **TIGHT)


def test_lstsq_of_a_rank_deficient_matrix_follows_numpy():
    a, b = RNG.standard_normal((6, 2)) @ RNG.standard_normal((2, 3)), RNG.standard_normal(6)
    x, residuals, rank, s = cr.linalg.lstsq(a, b)
    expected = np.linalg.lstsq(a, b)
    assert rank == expected[2] == 2 and residuals.shape == expected[1].shape == (0,)
    # Minimum-norm solutions through different routes (SVD vs LAPACK's gelsd): the
    # tiny third singular value's rounding makes ~1e-12 differences.
    np.testing.assert_allclose(x, expected[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(s, expected[3], rtol=1e-8, atol=1e-10)


def test_lstsq_gradient_matches_torch(torch):
    a, b = RNG.standard_normal((6, 3)), RNG.standard_normal((6, 2))
    assert_matches_torch(
        torch,
        lambda s, t: cr.linalg.lstsq(s, t)[0],
        lambda s, t: torch.linalg.lstsq(s, t).solution,
        [a, b],
    )


# ----------------------------------------------------------------------- power, rank
@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 3, 4, 7])
def test_matrix_power_follows_numpy_and_torch(n, torch):
    a = np.eye(3) + 0.3 * RNG.standard_normal((2, 3, 3))
    np.testing.assert_allclose(
        cr.linalg.matrix_power(cr.tensor(a), n).numpy(), np.linalg.matrix_power(a, n), **TIGHT
    )
    assert_matches_torch(
        torch,
        lambda t: cr.linalg.matrix_power(t, n),
        lambda t: torch.linalg.matrix_power(t, n),
        [a],
    )


def test_matrix_power_of_integers_and_errors():
    a = np.array([[0, 1], [-1, 0]])
    np.testing.assert_array_equal(cr.linalg.matrix_power(a, 3), np.linalg.matrix_power(a, 3))
    assert cr.linalg.matrix_power(a, 0).dtype == a.dtype
    with pytest.raises(TypeError, match="matrix_power: exponent must be an integer"):
        cr.linalg.matrix_power(a, 1.5)
    with pytest.raises(cr.ShapeError, match="matrix_power"):
        cr.linalg.matrix_power(np.ones((2, 3)), 2)


def test_matrix_rank_follows_numpy_without_gradient():
    a = np.stack([low_rank(4, 2), np.eye(4), np.zeros((4, 4))])
    np.testing.assert_array_equal(cr.linalg.matrix_rank(a), np.linalg.matrix_rank(a))
    rank = cr.linalg.matrix_rank(leaf(a))
    assert isinstance(rank, cr.Tensor) and not rank.requires_grad
    np.testing.assert_array_equal(rank.numpy(), [2, 4, 0])
    assert cr.linalg.matrix_rank(np.eye(3), tol=2.0) == 0
    assert cr.linalg.matrix_rank(np.ones(3)) == 1
    s = _symmetric((3, 3))
    assert cr.linalg.matrix_rank(s, hermitian=True) == np.linalg.matrix_rank(s, hermitian=True)


# ----------------------------------------------------------------------- the whole namespace
def test_results_are_named_like_numpys():
    a = _symmetric((3, 3))
    assert cr.linalg.svd(a)._fields == ("U", "S", "Vh")
    assert cr.linalg.eigh(a)._fields == ("eigenvalues", "eigenvectors")
    assert cr.linalg.qr(a)._fields == ("Q", "R")
    assert cr.linalg.slogdet(a)._fields == ("sign", "logabsdet")


@pytest.mark.parametrize(
    "call",
    [
        lambda x: cr.linalg.svd(x, full_matrices=False)[0],
        lambda x: cr.linalg.eigh(x + x.swapaxes(-1, -2))[1],
        lambda x: cr.linalg.qr(x)[0],
        lambda x: cr.linalg.pinv(x),
        lambda x: cr.linalg.eig(x @ x.swapaxes(-1, -2) + 3 * np.eye(3, dtype=np.float32))[0],
        lambda x: cr.linalg.matrix_power(x, -2),
        lambda x: cr.linalg.norm(x, "nuc", axis=(-2, -1)),
    ],
)
def test_float32_in_float32_out_and_gradients(call):
    x = cr.tensor(
        (np.eye(3) + 0.3 * RNG.standard_normal((2, 3, 3))).astype(np.float32), requires_grad=True
    )
    out = call(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and np.all(np.isfinite(x.grad.numpy()))


@pytest.mark.parametrize(
    "name",
    ["svd", "eigh", "eig", "qr", "pinv", "matrix_power", "inv", "det", "slogdet", "cholesky"],
)
def test_vectors_are_not_matrices(name):
    args = (2,) if name == "matrix_power" else ()
    with pytest.raises(cr.ShapeError, match=f"^{name}"):
        getattr(cr.linalg, name)(cr.tensor(np.ones(3)), *args)
