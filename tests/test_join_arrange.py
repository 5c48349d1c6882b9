"""Joining, splitting and rearranging (ops/join.py, ops/arrange.py) beyond the generated
suite: NumPy's forward values on arrays and Tensors, PyTorch's values and gradients in
float64, the errors, ``array`` from Tensors, and what the splitting functions return."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import AxisError

RNG = np.random.default_rng(0)


def _values(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _leaf(shape, seed=0):
    return cr.tensor(_values(shape, seed), requires_grad=True)


def _same(ours, expected):
    """Equal values, shapes and dtypes: these functions only move elements, so exactly."""
    if isinstance(expected, (list, tuple)):
        assert isinstance(ours, type(expected)) and len(ours) == len(expected)
        for a, b in zip(ours, expected):
            _same(a, b)
        return
    ours = np.asarray(ours)
    assert ours.shape == expected.shape and ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours, expected)


# ----------------------------------------------------------------------- NumPy's values
A23, A3, A0, A234, E03 = (
    _values(s, i) for i, s in enumerate([(2, 3), (3,), (), (2, 3, 4), (0, 3)])
)

NUMPY_CASES = [
    ("hstack", lambda m: m.hstack([A23, A23[:, :1]])),
    ("hstack", lambda m: m.hstack([A3, A0, A3])),
    ("hstack", lambda m: m.hstack([A234, A234])),
    ("vstack", lambda m: m.vstack([A23, A3, A3])),
    ("vstack", lambda m: m.vstack([A0, A0])),
    ("vstack", lambda m: m.vstack([E03, A3])),
    ("row_stack", lambda m: m.vstack([A23, A3])),
    ("column_stack", lambda m: m.column_stack([A3, A23.T, A3])),
    ("column_stack", lambda m: m.column_stack([A0, A0])),
    ("column_stack", lambda m: m.column_stack([A234, A234])),
    ("dstack", lambda m: m.dstack([A23, A23])),
    ("dstack", lambda m: m.dstack([A3, A3, A0 * np.ones(3)])),
    ("dstack", lambda m: m.dstack([A0, A0])),
    ("dstack", lambda m: m.dstack([A234, A234[:, :, :1]])),
    ("array_split", lambda m: m.array_split(np.arange(7.0), 3)),
    ("array_split", lambda m: m.array_split(np.arange(3.0), 5)),
    ("array_split", lambda m: m.array_split(A234, [1, 3], axis=-1)),
    ("array_split", lambda m: m.array_split(np.arange(5.0), [3, 1, -1])),
    ("array_split", lambda m: m.array_split(np.arange(5.0), np.array([2]))),
    ("array_split", lambda m: m.array_split(np.arange(5.0), [-9, 9])),
    ("array_split", lambda m: m.array_split(E03, 2)),
    ("hsplit", lambda m: m.hsplit(A234, [1])),
    ("hsplit", lambda m: m.hsplit(np.arange(6.0), 3)),
    ("vsplit", lambda m: m.vsplit(A234, 2)),
    ("vsplit", lambda m: m.vsplit(A23, [1, 1])),
    ("dsplit", lambda m: m.dsplit(A234, 2)),
    ("dsplit", lambda m: m.dsplit(A234, [1, 3, 10])),
    ("atleast_1d", lambda m: m.atleast_1d(A0)),
    ("atleast_1d", lambda m: m.atleast_1d(A23)),
    ("atleast_1d", lambda m: m.atleast_1d(A0, A3, 2.0)),
    ("atleast_2d", lambda m: m.atleast_2d(A3)),
    ("atleast_2d", lambda m: m.atleast_2d(A0, A234)),
    ("atleast_3d", lambda m: m.atleast_3d(A3)),
    ("atleast_3d", lambda m: m.atleast_3d(A23)),
    ("atleast_3d", lambda m: m.atleast_3d(A0, A234, E03)),
    ("append", lambda m: m.append(A23, A3)),
    ("append", lambda m: m.append(A0, [1.0, 2.0])),
    ("append", lambda m: m.append(A23, A23[:1], axis=0)),
    ("append", lambda m: m.append(A23, A23[:, :2], axis=-1)),
    ("repeat", lambda m: m.repeat(A23, 2)),
    ("repeat", lambda m: m.repeat(A23, 3, axis=1)),
    ("repeat", lambda m: m.repeat(A23, [2, 0], axis=0)),
    ("repeat", lambda m: m.repeat(A23, [2], axis=-1)),
    ("repeat", lambda m: m.repeat(A23, np.array([1, 0, 2, 1, 1, 3]))),
    ("repeat", lambda m: m.repeat(A0, 3)),
    ("repeat", lambda m: m.repeat(E03, 2, axis=0)),
    ("repeat", lambda m: m.repeat(A23, 0, axis=1)),
    ("repeat", lambda m: m.repeat(E03, [], axis=0)),
    ("tile", lambda m: m.tile(A23, 2)),
    ("tile", lambda m: m.tile(A23, (2, 1, 3))),
    ("tile", lambda m: m.tile(A234, (2, 1))),
    ("tile", lambda m: m.tile(A0, 3)),
    ("tile", lambda m: m.tile(A0, ())),
    ("tile", lambda m: m.tile(A23, (0, 2))),
    ("tile", lambda m: m.tile(A3, [1])),
    ("roll", lambda m: m.roll(A23, 4)),
    ("roll", lambda m: m.roll(A23, -1, axis=1)),
    ("roll", lambda m: m.roll(A234, (1, -2), axis=(0, 2))),
    ("roll", lambda m: m.roll(A234, (1, 2), axis=(2, 2))),
    ("roll", lambda m: m.roll(A234, 3, axis=(0, 1))),
    ("roll", lambda m: m.roll(A23, (1, 2))),
    ("roll", lambda m: m.roll(A23, 3, axis=1)),
    ("roll", lambda m: m.roll(A0, 2)),
    ("roll", lambda m: m.roll(E03, 1, axis=0)),
    ("flip", lambda m: m.flip(A234)),
    ("flip", lambda m: m.flip(A234, 1)),
    ("flip", lambda m: m.flip(A234, (0, -1))),
    ("flip", lambda m: m.flip(A0)),
    ("fliplr", lambda m: m.fliplr(A234)),
    ("flipud", lambda m: m.flipud(A3)),
    ("rot90", lambda m: m.rot90(A23)),
    ("rot90", lambda m: m.rot90(A23, 2)),
    ("rot90", lambda m: m.rot90(A23, -1)),
    ("rot90", lambda m: m.rot90(A23, 4)),
    ("rot90", lambda m: m.rot90(A234, 1, axes=(2, 0))),
    ("rot90", lambda m: m.rot90(A234, 3, axes=(-1, -2))),
    ("moveaxis", lambda m: m.moveaxis(A234, 0, -1)),
    ("moveaxis", lambda m: m.moveaxis(A234, (0, 1), (2, 0))),
    ("moveaxis", lambda m: m.moveaxis(A234, [-1], [0])),
    ("moveaxis", lambda m: m.moveaxis(A0, (), ())),
    ("ravel", lambda m: m.ravel(A234)),
    ("ravel", lambda m: m.ravel(A234, order="F")),
    ("ravel", lambda m: m.ravel(A0)),
    ("ravel", lambda m: m.ravel(E03)),
]


@pytest.mark.parametrize(
    "name, call", NUMPY_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(NUMPY_CASES)]
)
def test_forward_values_match_numpy_on_arrays_and_tensors(name, call):
    expected = call(np)
    # On ndarrays the functions run NumPy alone and give ndarrays.
    on_arrays = call(cr)
    _same(on_arrays, expected)
    assert all(
        isinstance(a, np.ndarray)
        for a in (on_arrays if isinstance(on_arrays, (list, tuple)) else [on_arrays])
    )

    # The same call on Tensors: swap NumPy's module for one whose functions get Tensors.
    class OnTensors:
        def __getattr__(self, attr):
            function = getattr(cr, attr)

            def wrapped(first, *rest, **params):
                def wrap(x):
                    if isinstance(x, list):
                        return [wrap(item) for item in x]
                    return cr.tensor(np.asarray(x)) if isinstance(x, (np.ndarray, float)) else x

                if name in ("atleast_1d", "atleast_2d", "atleast_3d"):
                    return function(*[wrap(x) for x in (first, *rest)], **params)
                return function(wrap(first), *rest, **params)

            return wrapped

    on_tensors = call(OnTensors())
    flat = on_tensors if isinstance(on_tensors, (list, tuple)) else [on_tensors]
    assert all(isinstance(t, cr.Tensor) for t in flat)
    _same(
        type(on_tensors)(t.numpy() for t in on_tensors)
        if isinstance(on_tensors, (list, tuple))
        else on_tensors.numpy(),
        expected,
    )


def test_row_stack_is_vstack():
    _same(cr.row_stack([A23, A3]), np.vstack([A23, A3]))


def test_stacking_takes_numpys_dtype_and_casting():
    x = cr.tensor(np.ones((2, 2)), requires_grad=True)
    out = cr.hstack([x, np.zeros((2, 1), np.float32)], dtype=np.float32)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float64 and np.all(x.grad.numpy() == 1)
    assert (
        cr.vstack([np.ones(2, np.int64), np.ones(2, np.int64)], dtype=np.float32).dtype
        == np.float32
    )
    with pytest.raises(TypeError, match="hstack"):
        cr.hstack([x, x], dtype=np.int64)  # same_kind does not allow float -> int
    assert cr.vstack([x, x], dtype=np.int64, casting="unsafe").dtype == np.int64


# ----------------------------------------------------------------------- PyTorch, float64
def _check_against_torch(ours, theirs, shapes, seed=0):
    """Values and gradients of ``ours`` on chainrule Tensors and ``theirs`` on torch ones."""
    torch = pytest.importorskip("torch")
    arrays = [_values(shape, seed + i) for i, shape in enumerate(shapes)]
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    if isinstance(out, (list, tuple)):
        assert len(out) == len(ref)
        out = cr.concatenate([cr.ravel(p) for p in out])
        ref = torch.cat([p.reshape(-1) for p in ref])
    assert out.shape == tuple(ref.shape) and out.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    cotangent = np.random.default_rng(seed + 99).standard_normal(out.shape)
    out.backward(cotangent)
    ref.backward(torch.tensor(cotangent))
    for x, t in zip(xs, ts):
        # Copies' gradients are sums whose order may differ: a few ulps apart at most.
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-13, atol=1e-14)


def _torch():
    return pytest.importorskip("torch")


TORCH_CASES = [
    ("hstack", lambda *xs: cr.hstack(xs), lambda *ts: _torch().hstack(ts), [(2, 3), (2, 1)]),
    ("hstack-1d", lambda *xs: cr.hstack(xs), lambda *ts: _torch().hstack(ts), [(3,), (2,)]),
    ("vstack", lambda *xs: cr.vstack(xs), lambda *ts: _torch().vstack(ts), [(2, 3), (3,)]),
    (
        "vstack-3d",
        lambda *xs: cr.vstack(xs),
        lambda *ts: _torch().vstack(ts),
        [(2, 3, 2), (1, 3, 2)],
    ),
    (
        "column_stack",
        lambda *xs: cr.column_stack(xs),
        lambda *ts: _torch().column_stack(ts),
        [(3,), (3, 2)],
    ),
    (
        "column_stack-0d",
        lambda *xs: cr.column_stack(xs),
        lambda *ts: _torch().column_stack(ts),
        [(), ()],
    ),
    ("dstack", lambda *xs: cr.dstack(xs), lambda *ts: _torch().dstack(ts), [(2, 3), (2, 3)]),
    ("dstack-1d", lambda *xs: cr.dstack(xs), lambda *ts: _torch().dstack(ts), [(3,), (3,)]),
    (
        "repeat",
        lambda x: cr.repeat(x, 3, axis=1),
        lambda t: _torch().repeat_interleave(t, 3, dim=1),
        [(2, 3)],
    ),
    (
        "repeat-flat",
        lambda x: cr.repeat(x, 2),
        lambda t: _torch().repeat_interleave(t, 2),
        [(2, 3)],
    ),
    (
        "repeat-counts",
        lambda x: cr.repeat(x, [2, 0, 3], axis=-1),
        lambda t: _torch().repeat_interleave(t, _torch().tensor([2, 0, 3]), dim=-1),
        [(2, 3)],
    ),
    ("repeat-0d", lambda x: cr.repeat(x, 4), lambda t: _torch().repeat_interleave(t, 4), [()]),
    ("tile", lambda x: cr.tile(x, (2, 3)), lambda t: _torch().tile(t, (2, 3)), [(2, 3)]),
    ("tile-short", lambda x: cr.tile(x, (2,)), lambda t: _torch().tile(t, (2,)), [(2, 3, 2)]),
    ("tile-long", lambda x: cr.tile(x, (2, 1, 3)), lambda t: _torch().tile(t, (2, 1, 3)), [(2, 3)]),
    ("tile-zero", lambda x: cr.tile(x, (0, 2)), lambda t: _torch().tile(t, (0, 2)), [(2, 3)]),
    ("roll", lambda x: cr.roll(x, 2, axis=1), lambda t: _torch().roll(t, 2, 1), [(2, 3)]),
    ("roll-flat", lambda x: cr.roll(x, -4), lambda t: _torch().roll(t, -4), [(2, 3)]),
    (
        "roll-axes",
        lambda x: cr.roll(x, (1, -1), axis=(0, 2)),
        lambda t: _torch().roll(t, (1, -1), (0, 2)),
        [(2, 3, 4)],
    ),
    ("flip", lambda x: cr.flip(x, (0, 2)), lambda t: _torch().flip(t, (0, 2)), [(2, 3, 4)]),
    ("flip-all", lambda x: cr.flip(x), lambda t: _torch().flip(t, (0, 1)), [(2, 3)]),
    ("fliplr", cr.fliplr, lambda t: _torch().fliplr(t), [(2, 3, 4)]),
    ("flipud", cr.flipud, lambda t: _torch().flipud(t), [(3,)]),
    ("rot90", cr.rot90, lambda t: _torch().rot90(t), [(2, 3)]),
    (
        "rot90-k",
        lambda x: cr.rot90(x, 3, axes=(2, 0)),
        lambda t: _torch().rot90(t, 3, (2, 0)),
        [(2, 3, 4)],
    ),
    (
        "rot90-neg",
        lambda x: cr.rot90(x, -2, axes=(1, 2)),
        lambda t: _torch().rot90(t, -2, (1, 2)),
        [(2, 3, 4)],
    ),
    (
        "movedim",
        lambda x: cr.moveaxis(x, (0, 1), (2, 0)),
        lambda t: _torch().movedim(t, (0, 1), (2, 0)),
        [(2, 3, 4)],
    ),
    ("expand", lambda x: cr.expand(x, 2, -1, 4), lambda t: t.expand(2, -1, 4), [(3, 1)]),
    ("expand-list", lambda x: cr.expand(x, [3, 2]), lambda t: t.expand([3, 2]), [(2,)]),
    ("clone", cr.clone, lambda t: _torch().clone(t), [(2, 3)]),
    ("ravel", cr.ravel, lambda t: _torch().ravel(t), [(2, 3, 4)]),
    ("ravel-0d", cr.ravel, lambda t: _torch().ravel(t), [()]),
    (
        "array_split",
        lambda x: cr.array_split(x, 3, axis=1),
        lambda t: _torch().tensor_split(t, 3, dim=1),
        [(2, 7)],
    ),
    (
        "array_split-indices",
        lambda x: cr.array_split(x, [1, 4]),
        lambda t: _torch().tensor_split(t, [1, 4]),
        [(5, 2)],
    ),
    ("hsplit", lambda x: cr.hsplit(x, 2), lambda t: _torch().hsplit(t, 2), [(2, 4)]),
    ("vsplit", lambda x: cr.vsplit(x, [1]), lambda t: _torch().vsplit(t, [1]), [(3, 2)]),
    ("dsplit", lambda x: cr.dsplit(x, 2), lambda t: _torch().dsplit(t, 2), [(1, 2, 4)]),
    (
        "atleast_3d",
        lambda x, y: cr.atleast_3d(x, y),
        lambda s, t: _torch().atleast_3d(s, t),
        [(3,), (2, 3)],
    ),
    (
        "array",
        lambda x, y: cr.array([[x, y], [y, x]]),
        lambda s, t: _torch().stack([_torch().stack([s, t]), _torch().stack([t, s])]),
        [(3,), (3,)],
    ),
]


@pytest.mark.parametrize(
    "name, ours, theirs, shapes", TORCH_CASES, ids=[case[0] for case in TORCH_CASES]
)
def test_values_and_gradients_match_pytorch(name, ours, theirs, shapes):
    _check_against_torch(ours, theirs, shapes)


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize("sections", [0, -2])
def test_array_split_into_no_sections_is_a_value_error_naming_it(sections):
    with pytest.raises(ValueError, match="array_split.*sections"):
        cr.array_split(_leaf((4,)), sections)
    with pytest.raises(ValueError, match="hsplit.*sections"):
        cr.hsplit(_leaf((4,)), sections)


def test_uneven_equal_split_is_a_shape_error():
    with pytest.raises(cr.ShapeError, match=r"vsplit.*equal division.*length 3.*2 sections"):
        cr.vsplit(_leaf((3, 2)), 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda: cr.array_split(_leaf((2, 3)), 2, axis=2),
        lambda: cr.array_split(_leaf(()), 2),
        lambda: cr.append(_leaf((2, 3)), _leaf((2, 3)), axis=-3),
        lambda: cr.repeat(_leaf((2, 3)), 2, axis=2),
        lambda: cr.repeat(_leaf(()), 2, axis=0),
        lambda: cr.roll(_leaf((2, 3)), 1, axis=2),
        lambda: cr.flip(_leaf((2, 3)), -3),
        lambda: cr.flip(_leaf(()), 0),
        lambda: cr.rot90(_leaf((2, 3)), axes=(0, 2)),
        lambda: cr.rot90(_leaf((3,))),
        lambda: cr.moveaxis(_leaf((2, 3)), 2, 0),
        lambda: cr.moveaxis(_leaf((2, 3)), 0, -3),
    ],
    ids=[
        "array_split",
        "array_split-0d",
        "append",
        "repeat",
        "repeat-0d",
        "roll",
        "flip",
        "flip-0d",
        "rot90",
        "rot90-1d",
        "moveaxis-source",
        "moveaxis-destination",
    ],
)
def test_out_of_range_axes_are_axis_errors(call):
    with pytest.raises(AxisError) as info:
        call()
    assert "out of range" in str(info.value)
    assert isinstance(info.value, (np.exceptions.AxisError, ValueError, IndexError))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: cr.hsplit(_leaf(()), 1), ValueError, "hsplit.*1 or more"),
        (lambda: cr.vsplit(_leaf((4,)), 2), ValueError, "vsplit.*2 or more"),
        (lambda: cr.dsplit(_leaf((2, 4)), 2), ValueError, "dsplit.*3 or more"),
        (lambda: cr.fliplr(_leaf((3,))), ValueError, "fliplr.*2-d"),
        (lambda: cr.flipud(_leaf(())), ValueError, "flipud.*1-d"),
        (lambda: cr.flip(_leaf((2, 3)), (0, -2)), ValueError, "flip.*repeated"),
        (lambda: cr.rot90(_leaf((2, 3)), axes=(0,)), ValueError, "rot90.*len"),
        (lambda: cr.rot90(_leaf((2, 3)), axes=(1, -1)), ValueError, "rot90.*different"),
        (lambda: cr.rot90(_leaf((2, 3)), 1.5), TypeError, "float"),
        (lambda: cr.moveaxis(_leaf((2, 3)), (0, 1), 0), ValueError, "moveaxis.*same number"),
        (lambda: cr.moveaxis(_leaf((2, 3)), (0, 0), (0, 1)), ValueError, "moveaxis.*repeated"),
        (lambda: cr.repeat(_leaf((2, 3)), [1, 2, 3], axis=0), cr.ShapeError, "repeat.*3 repeats"),
        (lambda: cr.repeat(_leaf((2, 3)), -1), ValueError, "repeat.*negative"),
        (lambda: cr.repeat(_leaf((2, 3)), 1.5), TypeError, "repeat.*integers"),
        (lambda: cr.repeat(_leaf((2, 3)), [[1, 2]], axis=0), cr.ShapeError, "repeat.*1-d"),
        (lambda: cr.tile(_leaf((2, 3)), (2, -1)), ValueError, "tile.*negative"),
        (lambda: cr.tile(_leaf((2, 3)), 1.5), TypeError, "tile.*reps"),
        (lambda: cr.roll(_leaf((2, 3)), (1, 2, 3), axis=(0, 1)), cr.ShapeError, "roll.*broadcast"),
        (lambda: cr.roll(_leaf((2, 3)), 0.5), TypeError, "roll.*shift"),
        (lambda: cr.expand(_leaf((2, 3)), 3), cr.ShapeError, "expand.*at least one per axis"),
        (lambda: cr.expand(_leaf((2, 3)), 4, 3), cr.ShapeError, r"expand.*\(2, 3\).*\(4, 3\)"),
        (lambda: cr.expand(_leaf((3,)), -1, 3), cr.ShapeError, "expand"),
        (lambda: cr.expand(_leaf((3,)), -2), cr.ShapeError, "expand"),
        (lambda: cr.ravel(_leaf((2, 3)), order="K"), ValueError, "ravel.*order"),
        (lambda: cr.append(_leaf((2, 3)), _leaf((3,)), axis=0), cr.ShapeError, "append"),
        (lambda: cr.hstack([]), ValueError, "hstack.*at least one"),
        (lambda: cr.vstack([_leaf((2,)), _leaf((3,))]), cr.ShapeError, "concatenate"),
        (lambda: cr.array([_leaf((2,)), _leaf((3,))]), cr.ShapeError, "array.*inhomogeneous"),
        (lambda: cr.array([_leaf((2,)), 1.0]), cr.ShapeError, "array.*inhomogeneous"),
        (lambda: cr.array([_leaf((2,)), [1.0, [2.0]]]), cr.ShapeError, "array.*inhomogeneous"),
    ],
)
def test_bad_arguments_raise_numpys_kind_of_error_naming_the_op(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_numpy_raises_the_same_kinds_of_error():
    """The error kinds above are NumPy's own (ValueError, or AxisError: a ValueError)."""
    for call in (
        lambda: np.array_split(np.ones(4), 0),
        lambda: np.hsplit(np.ones(()), 1),
        lambda: np.fliplr(np.ones(3)),
        lambda: np.rot90(np.ones((2, 3)), axes=(0,)),
        lambda: np.repeat(np.ones(2), -1),
        lambda: np.tile(np.ones(2), -1),
        lambda: np.split(np.ones(3), 2),
        lambda: np.flip(np.ones(()), 0),
    ):
        with pytest.raises(ValueError):
            call()


# ----------------------------------------------------------------------- array
def test_array_connects_nested_tensors_and_keeps_constants_constant():
    x = cr.tensor(2.0, requires_grad=True)
    v = cr.tensor([1.0, -1.0], requires_grad=True)
    y = cr.array([[x, 3.0], v * x])
    assert y.shape == (2, 2) and y.dtype == np.float32  # Python numbers do not promote
    np.testing.assert_array_equal(y.numpy(), [[2.0, 3.0], [2.0, -2.0]])
    (y * np.array([[1.0, 10.0], [100.0, 1000.0]], np.float32)).sum().backward()
    assert x.grad.item() == 1.0 + 100.0 * 1.0 + 1000.0 * -1.0
    np.testing.assert_array_equal(v.grad.numpy(), [200.0, 2000.0])


def test_array_matches_np_array_for_its_values_and_dtype():
    a, b = _values((3,), 1), _values((3,), 2)
    for make in (
        lambda a, b: [a, b],
        lambda a, b: (a, [1, 2, 3]),
        lambda a, b: [[a], [b]],
        lambda a, b: [(a, b), (b, a)],
        lambda a, b: [[a[0], 1.0], (2, b[1])],
    ):
        _same(cr.array(make(cr.tensor(a), cr.tensor(b))).numpy(), np.array(make(a, b)))
    # An ndarray inside takes part in the type as in NumPy (strongly), a number weakly.
    assert cr.array([cr.tensor([1.0]), np.ones(1)]).dtype == np.float64
    assert cr.array([cr.tensor([1.0]), [1]]).dtype == np.float32


def test_array_dtype_casts_and_gradients_come_back_in_the_inputs_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)  # float32
    y = cr.array([x, x], dtype=np.float64)
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_array_without_tensors_is_np_array():
    out = cr.array([[1, 2], [3, 4]], dtype=np.float32)
    assert type(out) is np.ndarray and out.dtype == np.float32
    _same(cr.array([1.5, 2]), np.array([1.5, 2]))


def test_array_of_one_tensor_is_a_copy_in_the_graph():
    x = _leaf((2,))
    y = cr.array(x)
    assert y is not x and y.grad_fn.name == "clone"
    assert not np.shares_memory(y.numpy(), x.numpy())
    assert cr.array(x, dtype=np.float32).dtype == np.float32


def test_array_is_twice_differentiable():
    assert cr.gradgradcheck(
        lambda x, y: cr.array([[x * y, 1.0], [y, x]]), [_values(()), _values((), 1)]
    )


# ----------------------------------------------------------------------- the rest
def test_atleast_with_several_inputs_returns_a_tuple_as_numpy():
    out = cr.atleast_2d(_leaf(()), _leaf((3,)))
    assert isinstance(out, tuple) and isinstance(np.atleast_2d(1.0, 2.0), tuple)
    assert [o.shape for o in out] == [(1, 1), (1, 3)]
    assert isinstance(cr.atleast_1d(_leaf(())), cr.Tensor)
    x = _leaf((2, 3))
    assert cr.atleast_2d(x) is x  # enough axes already: the input itself, as in NumPy


def test_splitting_returns_a_list_whose_pieces_send_gradients_back():
    x = _leaf((7, 2))
    pieces = cr.array_split(x, 3)
    assert isinstance(pieces, list) and [p.shape for p in pieces] == [(3, 2), (2, 2), (2, 2)]
    (pieces[0].sum() + 2 * pieces[2].sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 0], [1, 1, 1, 0, 0, 2, 2])


def test_sections_may_be_given_as_a_tensor_or_array():
    x = np.arange(6.0)
    _same(cr.array_split(x, cr.tensor(np.array([2, 4]))), np.array_split(x, [2, 4]))
    _same(cr.array_split(x, np.int64(4)), np.array_split(x, 4))


def test_repeat_gradient_sums_the_copies_and_is_twice_differentiable():
    x = _leaf((2, 3))
    cr.repeat(x, [1, 0, 3], axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 3], [1, 0, 3]])
    # Per-element counts gather; one count broadcasts: both differentiate twice.
    for repeats in ([2, 1, 0], 2):
        assert cr.gradgradcheck(
            lambda a, r=repeats: cr.repeat(a * a, r, axis=-1), [_values((2, 3))]
        )


def test_repeats_that_are_all_the_same_take_the_broadcast_path():
    # One count given as a length-1 list, a 0-d array or a Tensor: NumPy broadcasts it.
    for repeats in ([2], np.array(2), cr.tensor(np.array([2]))):
        out = cr.repeat(_leaf((2, 3)), repeats, axis=0)
        assert out.grad_fn.name == "reshape"
        _same(out.numpy(), np.repeat(_values((2, 3)), 2, axis=0))


def test_roll_is_one_node_and_its_own_adjoint():
    x = _leaf((3, 4))
    y = cr.roll(x, (1, 5), axis=(0, 1))
    assert y.grad_fn.name == "roll" and y.grad_fn.params == {"shift": (1, 1), "axis": (0, 1)}
    cotangent = _values((3, 4), 7)
    y.backward(cotangent)
    _same(x.grad.numpy(), np.roll(cotangent, (-1, -1), axis=(0, 1)))


def test_no_op_rearrangements_return_their_input():
    x = _leaf((2, 3))
    for out in (
        cr.roll(x, 6),
        cr.roll(x, 3, axis=1),
        cr.rot90(x, 4),
        cr.tile(x, (1, 1)),
        cr.repeat(x, 1, axis=0),
        cr.flip(x, ()),
        cr.moveaxis(x, 0, 0),
    ):
        assert out is x


def test_clone_is_a_new_node_and_passes_the_gradient_through():
    x = _leaf((2, 3))
    y = cr.clone(x)
    assert y is not x and y.grad_fn.name == "clone" and y.requires_grad
    assert not np.shares_memory(y.numpy(), x.numpy())
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 3.0))
    assert cr.clone(x.detach()).requires_grad is False
    _same(cr.clone(np.arange(3)), np.arange(3))  # ints and ndarrays: np.copy


def test_flips_and_rotations_are_views_of_their_input():
    x = _leaf((2, 3))
    for out in (cr.flip(x), cr.fliplr(x), cr.flipud(x), cr.rot90(x), cr.rot90(x, 3)):
        assert np.shares_memory(out.numpy(), x.numpy())


def test_expand_keeps_sizes_with_minus_one_and_is_a_broadcast_view():
    x = _leaf((3, 1))
    y = cr.expand(x, 2, -1, 5)
    assert y.shape == (2, 3, 5) and np.shares_memory(y.numpy(), x.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 1), 10.0))


def test_float32_stays_float32_through_every_function():
    x = cr.tensor(np.ones((2, 3, 4), np.float32), requires_grad=True)
    outs = [
        cr.hstack([x, x]),
        cr.vstack([x, x]),
        cr.dstack([x, x]),
        cr.column_stack([x, x]),
        cr.append(x, np.float32(1.0)),
        cr.repeat(x, [1, 2], axis=0),
        cr.tile(x, 2),
        cr.roll(x, 1),
        cr.rot90(x),
        cr.moveaxis(x, 0, 2),
        cr.expand(x, 2, -1, -1, -1),
        cr.clone(x),
        cr.ravel(x),
        cr.array([x, x]),
        cr.array([x[0, 0, 0], 2.0]),
    ]
    outs += cr.array_split(x, 2, axis=1) + cr.dsplit(x, 2)
    for out in outs:
        assert out.dtype == np.float32
    cr.concatenate([cr.ravel(out) for out in outs]).sum().backward()
    assert x.grad.dtype == np.float32


def test_repeat_and_tile_give_new_writable_arrays_as_numpy():
    # Where only length-1 axes follow the repeated one, merging is a view of a broadcast.
    x = _leaf((3, 1))
    for out in (
        cr.repeat(x, 4, axis=1),
        cr.tile(x, (1, 4)),
        cr.repeat(x.numpy(), 4, axis=1),
        cr.tile(x.numpy(), (2, 1, 4)),
    ):
        data = np.asarray(out)
        assert data.flags.writeable and not np.shares_memory(data, x.numpy())
    y = cr.tile(x, (1, 4))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 1), 4.0))
