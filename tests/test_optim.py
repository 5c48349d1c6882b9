"""Tests for chainrule.optim: optimizers, schedules and gradient clipping.

The optimizer maths is checked against plain NumPy transcriptions of the
algorithm boxes in PyTorch's documentation, written below one line per line of
pseudocode. Gradients are set directly (``p.grad = cr.tensor(g)``), so these
tests exercise the optimizers alone, not autodiff. Where PyTorch is installed,
extra tests compare with ``torch.optim`` on the same inputs.
"""

import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    clip_grad_norm_,
    flatten_state_dict,
    lr_scheduler,
    unflatten_state_dict,
)
from chainrule.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR

# Tight enough to catch a misplaced eps or bias correction, loose enough for
# float64 rounding between algebraically equal forms.
FLOAT64_TOL = dict(rtol=1e-9, atol=1e-12)

_rng = np.random.default_rng(1234)
SHAPES = [(2, 3), (4,)]
INIT = [_rng.normal(size=shape) for shape in SHAPES]
# Changing gradient scales make AMSGrad's running maximum differ from plain Adam.
SCALES = [2.0, 0.5, 1.5, 0.1, 1.0, 0.05, 3.0]
GRADS = [[scale * _rng.normal(size=shape) for shape in SHAPES] for scale in SCALES]


# ----------------------------------------------------------------- references
def reference_sgd(
    theta,
    grads,
    lr=1e-3,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    maximize=False,
):
    """torch.optim.SGD's documented algorithm."""
    history, b = [], None
    for t, grad in enumerate(grads, start=1):
        g = -grad if maximize else grad
        if weight_decay != 0:
            g = g + weight_decay * theta
        if momentum != 0:
            if t > 1:
                b = momentum * b + (1 - dampening) * g
            else:
                b = g
            if nesterov:
                g = g + momentum * b
            else:
                g = b
        theta = theta - lr * g
        history.append(theta)
    return history


def reference_adagrad(
    theta,
    grads,
    lr=1e-2,
    lr_decay=0.0,
    weight_decay=0.0,
    initial_accumulator_value=0.0,
    eps=1e-10,
    maximize=False,
):
    """torch.optim.Adagrad's documented algorithm (maximize negates the gradient)."""
    history = []
    state_sum = np.full_like(theta, initial_accumulator_value)
    for t, grad in enumerate(grads, start=1):
        g = -grad if maximize else grad
        lr_t = lr / (1 + (t - 1) * lr_decay)
        if weight_decay != 0:
            g = g + weight_decay * theta
        state_sum = state_sum + g**2
        theta = theta - lr_t * g / (np.sqrt(state_sum) + eps)
        history.append(theta)
    return history


def reference_rmsprop(
    theta,
    grads,
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0.0,
    momentum=0.0,
    centered=False,
    maximize=False,
):
    """torch.optim.RMSprop's documented algorithm (maximize negates the gradient)."""
    history = []
    v = np.zeros_like(theta)
    b = np.zeros_like(theta)
    g_ave = np.zeros_like(theta)
    for grad in grads:
        g = -grad if maximize else grad
        if weight_decay != 0:
            g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g**2
        v_tilde = v
        if centered:
            g_ave = g_ave * alpha + (1 - alpha) * g
            v_tilde = v_tilde - g_ave**2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            theta = theta - lr * b
        else:
            theta = theta - lr * g / (np.sqrt(v_tilde) + eps)
        history.append(theta)
    return history


def reference_adam(
    theta,
    grads,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
):
    """torch.optim.Adam's documented algorithm; AdamW's with ``decoupled=True``."""
    beta1, beta2 = betas
    history = []
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    v_max = np.zeros_like(theta)
    for t, grad in enumerate(grads, start=1):
        g = -grad if maximize else grad
        if decoupled:
            theta = theta - lr * weight_decay * theta
        elif weight_decay != 0:
            g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2**t)
        else:
            v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        history.append(theta)
    return history


def reference_adamw(theta, grads, weight_decay=1e-2, **options):
    return reference_adam(theta, grads, weight_decay=weight_decay, decoupled=True, **options)


# ----------------------------------------------------------------- drivers
def run_chainrule(opt_class, options, dtype=np.float64, init=INIT, grads=GRADS):
    """Apply each step's gradients; return the parameters after every step."""
    params = [cr.tensor(a.astype(dtype), requires_grad=True) for a in init]
    opt = opt_class(params, **options)
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = cr.tensor(g.astype(dtype))
        opt.step()
        history.append([p.data.copy() for p in params])
    return history


def run_reference(reference, options, init=INIT, grads=GRADS):
    per_param = [reference(theta, [g[i] for g in grads], **options) for i, theta in enumerate(init)]
    return [list(step) for step in zip(*per_param)]


def run_torch(torch, opt_class, options, dtype=np.float64, init=INIT, grads=GRADS):
    params = [torch.tensor(a.astype(dtype), requires_grad=True) for a in init]
    opt = opt_class(params, **options)
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g.astype(dtype))
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history


def max_deviation(history_a, history_b):
    return max(
        float(np.max(np.abs(a - b)))
        for step_a, step_b in zip(history_a, history_b)
        for a, b in zip(step_a, step_b)
    )


CASES = {
    "SGD": (
        SGD,
        reference_sgd,
        [
            dict(lr=0.1),
            dict(lr=0.1, momentum=0.9),
            dict(lr=0.1, momentum=0.9, dampening=0.5),
            dict(lr=0.1, momentum=0.8, nesterov=True),
            dict(lr=0.1, weight_decay=0.3),
            dict(lr=0.1, maximize=True),
            dict(lr=0.05, momentum=0.7, weight_decay=0.2, nesterov=True, maximize=True),
            dict(lr=0.05, momentum=0.7, dampening=0.3, weight_decay=0.2, maximize=True),
        ],
    ),
    "Adagrad": (
        Adagrad,
        reference_adagrad,
        [
            dict(),
            dict(lr=0.1, lr_decay=0.2),
            dict(lr=0.1, weight_decay=0.3),
            dict(lr=0.1, initial_accumulator_value=0.5),
            dict(lr=0.1, eps=0.1),
            dict(lr=0.1, maximize=True),
            dict(
                lr=0.2,
                lr_decay=0.1,
                weight_decay=0.1,
                initial_accumulator_value=0.2,
                eps=1e-3,
                maximize=True,
            ),
        ],
    ),
    "RMSprop": (
        RMSprop,
        reference_rmsprop,
        [
            dict(),
            dict(lr=0.01, alpha=0.9),
            dict(lr=0.01, centered=True),
            dict(lr=0.01, momentum=0.9),
            dict(lr=0.01, weight_decay=0.3),
            dict(lr=0.01, eps=0.1),
            dict(lr=0.01, maximize=True),
            dict(
                lr=0.02,
                alpha=0.8,
                eps=1e-3,
                weight_decay=0.1,
                momentum=0.5,
                centered=True,
                maximize=True,
            ),
        ],
    ),
    "Adam": (
        Adam,
        reference_adam,
        [
            dict(),
            dict(lr=0.1, betas=(0.8, 0.9)),
            dict(lr=0.1, amsgrad=True),
            dict(lr=0.1, weight_decay=0.3),
            dict(lr=0.1, eps=0.1),
            dict(lr=0.1, maximize=True),
            dict(
                lr=0.05, betas=(0.5, 0.7), eps=1e-3, weight_decay=0.2, amsgrad=True, maximize=True
            ),
        ],
    ),
    "AdamW": (
        AdamW,
        reference_adamw,
        [
            dict(),
            dict(lr=0.1, weight_decay=0.3),
            dict(lr=0.1, weight_decay=0.0),
            dict(lr=0.1, amsgrad=True),
            dict(lr=0.1, maximize=True),
            dict(
                lr=0.05, betas=(0.5, 0.7), eps=1e-3, weight_decay=0.2, amsgrad=True, maximize=True
            ),
        ],
    ),
}

CASE_PARAMS = [
    pytest.param(
        name,
        options,
        id=f"{name}-" + ("-".join(f"{k}={v}" for k, v in options.items()) or "defaults"),
    )
    for name, (_, _, configs) in CASES.items()
    for options in configs
]


# ----------------------------------------------------------------- update rules
@pytest.mark.parametrize("name, options", CASE_PARAMS)
def test_matches_documented_algorithm(name, options):
    opt_class, reference, _ = CASES[name]
    actual = run_chainrule(opt_class, options)
    expected = run_reference(reference, options)
    assert len(actual) == len(GRADS)
    for step_actual, step_expected in zip(actual, expected):
        for a, e in zip(step_actual, step_expected):
            np.testing.assert_allclose(a, e, **FLOAT64_TOL)


@pytest.mark.parametrize("name, options", CASE_PARAMS)
def test_float32_params_stay_float32(name, options):
    opt_class, reference, _ = CASES[name]
    params = [cr.tensor(a.astype(np.float32), requires_grad=True) for a in INIT]
    opt = opt_class(params, **options)
    for step_grads in GRADS:
        for p, g in zip(params, step_grads):
            p.grad = cr.tensor(g.astype(np.float32))
        opt.step()
        assert all(p.data.dtype == np.float32 for p in params)
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
    # float32 maths follows the float64 reference to float32 accuracy.
    expected = run_reference(reference, options)[-1]
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.data, e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, options", CASE_PARAMS)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_matches_torch(name, options, dtype, tol):
    torch = pytest.importorskip("torch")
    opt_class = CASES[name][0]
    actual = run_chainrule(opt_class, options, dtype)
    expected = run_torch(torch, getattr(torch.optim, name), options, dtype)
    assert max_deviation(actual, expected) <= tol


# ----------------------------------------------------------------- base class
def make_params(dtype=np.float64):
    return [cr.tensor(a.astype(dtype), requires_grad=True) for a in INIT]


def set_grads(params, step):
    for p, g in zip(params, GRADS[step % len(GRADS)]):
        p.grad = cr.tensor(g)


def test_param_groups_use_their_own_options():
    a, b = make_params()
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.01, "momentum": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]
    assert opt.param_groups[1]["dampening"] == 0  # filled in from the defaults
    history = []
    for step in range(3):
        set_grads([a, b], step)
        opt.step()
        history.append([a.data.copy(), b.data.copy()])
    expected_a = reference_sgd(INIT[0], [g[0] for g in GRADS[:3]], lr=0.1, momentum=0.9)
    expected_b = reference_sgd(INIT[1], [g[1] for g in GRADS[:3]], lr=0.01, momentum=0.5)
    for (got_a, got_b), want_a, want_b in zip(history, expected_a, expected_b):
        np.testing.assert_allclose(got_a, want_a, **FLOAT64_TOL)
        np.testing.assert_allclose(got_b, want_b, **FLOAT64_TOL)


def test_add_param_group_and_per_group_betas():
    a, b = make_params()
    opt = Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "betas": (0.5, 0.6)})
    for step in range(4):
        set_grads([a, b], step)
        opt.step()
    want_a = reference_adam(INIT[0], [g[0] for g in GRADS[:4]], lr=0.1)[-1]
    want_b = reference_adam(INIT[1], [g[1] for g in GRADS[:4]], lr=0.1, betas=(0.5, 0.6))[-1]
    np.testing.assert_allclose(a.data, want_a, **FLOAT64_TOL)
    np.testing.assert_allclose(b.data, want_b, **FLOAT64_TOL)


def test_params_without_grad_are_skipped():
    a, b = make_params()
    opt = Adam([a, b], lr=0.1)
    a.grad = cr.tensor(GRADS[0][0])
    opt.step()
    np.testing.assert_array_equal(b.data, INIT[1])
    assert b not in opt.state and opt.state[a]["step"] == 1


@pytest.mark.parametrize(
    "opt_class, options",
    [
        (SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)),
        (Adagrad, dict(weight_decay=0.1)),
        (RMSprop, dict(momentum=0.9, centered=True, weight_decay=0.1)),
        (Adam, dict(weight_decay=0.1, amsgrad=True)),
        (AdamW, dict()),
    ],
)
def test_gradients_are_never_modified(opt_class, options):
    # Two parameters sharing one gradient array: an in-place update would show.
    shared = np.array([0.5, -1.0, 2.0])
    params = [cr.tensor(np.ones(3), requires_grad=True) for _ in range(2)]
    grad = cr.tensor(shared)
    for p in params:
        p.grad = grad
    opt = opt_class(params, **options)
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(grad.data, shared)
    np.testing.assert_array_equal(params[0].data, params[1].data)


@pytest.mark.parametrize(
    "opt_class, options",
    [
        (SGD, dict(lr=0.1)),
        (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
        (Adagrad, dict(weight_decay=0.1)),
        (RMSprop, dict(momentum=0.9, centered=True)),
        (Adam, dict(weight_decay=0.1, amsgrad=True)),
        (AdamW, dict(weight_decay=0.1)),
    ],
)
def test_a_parameter_no_live_graph_saved_is_updated_in_place(opt_class, options):
    """After backward has freed the graph the update writes into the parameter's own
    array (no new array per step); a parameter that a live graph saved gets a new array,
    so that graph's backward still reads the old values. Both give the same values."""
    free, held = (cr.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True) for _ in "ab")
    opt = opt_class([free, held], **options)
    own = free.data
    for _ in range(3):
        for p in (free, held):
            (p * p * p).sum().backward()
        live = (held * held).sum()  # a graph that saved `held` and has not run backward
        saved = held._data
        before = saved.copy()
        opt.step()
        assert free.data is own  # in place
        assert held._data is not saved  # a new array: the live graph keeps `saved`
        np.testing.assert_array_equal(saved, before)
        np.testing.assert_array_equal(free.data, held.data)
        opt.zero_grad()
        live.backward()  # d(held^2) with the values it saw: 2 * before
        np.testing.assert_array_equal(held.grad.numpy(), 2 * before)
        held.grad = None


def test_zero_grad():
    a, b = make_params()
    opt = SGD([a, b], lr=0.1)
    set_grads([a, b], 0)
    old = a.grad.data.copy()
    old_grad = a.grad
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, np.zeros_like(INIT[0]))
    assert a.grad is not old_grad
    np.testing.assert_array_equal(old_grad.data, old)  # replaced, not zeroed in place
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_returns_closure_value():
    (a, _) = make_params()
    opt = SGD([a], lr=0.1)
    calls = []

    def closure():
        calls.append(1)
        a.grad = cr.tensor(np.ones_like(a.data))
        return 3.5

    assert opt.step(closure) == 3.5
    assert calls == [1]
    np.testing.assert_allclose(a.data, INIT[0] - 0.1)
    assert opt.step() is None


def test_bad_params_are_rejected():
    a, b = make_params()
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        SGD(a, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        SGD([INIT[0]], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        SGD([a, a], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        SGD([{"params": [a]}, {"params": [a, b]}], lr=0.1)


def test_gradient_shape_mismatch_is_reported():
    (a, _) = make_params()
    opt = SGD([a], lr=0.1)
    a.grad = cr.tensor(np.ones(5))
    with pytest.raises(ValueError, match=re.escape("gradient of shape (5,)")):
        opt.step()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: SGD(p, lr=-0.1), "SGD: invalid lr=-0.1"),
        (lambda p: SGD(p, momentum=-0.5), "SGD: invalid momentum=-0.5"),
        (lambda p: SGD(p, weight_decay=-1), "SGD: invalid weight_decay=-1"),
        (lambda p: SGD(p, nesterov=True), "SGD: nesterov=True requires momentum > 0"),
        (
            lambda p: SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
            "SGD: nesterov=True requires momentum > 0 and dampening == 0, got momentum=0.9, "
            "dampening=0.1",
        ),
        (lambda p: SGD([{"params": p, "lr": -2.0}], lr=0.1), "SGD: invalid lr=-2.0"),
        (lambda p: Adagrad(p, lr=-1e-3), "Adagrad: invalid lr=-0.001"),
        (lambda p: Adagrad(p, lr_decay=-0.1), "Adagrad: invalid lr_decay=-0.1"),
        (
            lambda p: Adagrad(p, initial_accumulator_value=-1.0),
            "Adagrad: invalid initial_accumulator_value=-1.0",
        ),
        (lambda p: Adagrad(p, eps=-1e-10), "Adagrad: invalid eps=-1e-10"),
        (lambda p: RMSprop(p, alpha=-0.9), "RMSprop: invalid alpha=-0.9"),
        (lambda p: RMSprop(p, momentum=-0.1), "RMSprop: invalid momentum=-0.1"),
        (lambda p: RMSprop(p, eps=-1.0), "RMSprop: invalid eps=-1.0"),
        (lambda p: Adam(p, lr=-0.01), "Adam: invalid lr=-0.01"),
        (
            lambda p: Adam(p, betas=(1.0, 0.999)),
            "Adam: invalid betas[0]=1.0, expected 0 <= beta < 1",
        ),
        (lambda p: Adam(p, betas=(0.9, -0.1)), "Adam: invalid betas[1]=-0.1"),
        (lambda p: Adam(p, eps=-1e-8), "Adam: invalid eps=-1e-08"),
        (lambda p: Adam(p, weight_decay=-0.1), "Adam: invalid weight_decay=-0.1"),
        (lambda p: AdamW(p, betas=(0.9, 1.5)), "AdamW: invalid betas[1]=1.5"),
    ],
)
def test_bad_hyper_parameters_name_the_optimizer_and_value(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make(make_params())


# ----------------------------------------------------------------- state dicts
ROUND_TRIP = [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (Adagrad, dict(lr=0.1, lr_decay=0.1)),
    (RMSprop, dict(momentum=0.9, centered=True)),
    (Adam, dict(lr=0.1, amsgrad=True)),
    (AdamW, dict(lr=0.1, weight_decay=0.1)),
]


def _is_plain(value):
    if isinstance(value, dict):
        return all(_is_plain(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return isinstance(value, (np.ndarray, int, float, bool, str))


def _continue(opt, params, first, last):
    for step in range(first, last):
        set_grads(params, step)
        opt.step()
    return [p.data.copy() for p in params]


@pytest.mark.parametrize("opt_class, options", ROUND_TRIP)
def test_state_dict_round_trip_continues_identically(opt_class, options):
    params = make_params()
    opt = opt_class([{"params": params[:1]}, {"params": params[1:], "lr": 0.05}], **options)
    _continue(opt, params, 0, 3)
    saved = opt.state_dict()
    assert _is_plain(saved)
    assert sorted(saved["state"]) == [0, 1]
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]]

    clones = [cr.tensor(p.data.copy(), requires_grad=True) for p in params]
    fresh = opt_class([{"params": clones[:1]}, {"params": clones[1:]}], **options)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[1]["lr"] == 0.05
    expected = _continue(opt, params, 3, 6)
    actual = _continue(fresh, clones, 3, 6)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("opt_class, options", ROUND_TRIP)
def test_state_dict_survives_npz_without_pickle(opt_class, options, tmp_path):
    params = make_params(np.float32)
    opt = opt_class(params, **options)
    _continue(opt, params, 0, 3)
    path = tmp_path / "optim.npz"
    np.savez(path, **flatten_state_dict(opt.state_dict()))
    with np.load(path, allow_pickle=False) as archive:
        loaded = unflatten_state_dict(dict(archive))

    clones = [cr.tensor(p.data.copy(), requires_grad=True) for p in params]
    fresh = opt_class(clones, lr=123.0)  # options come from the checkpoint
    fresh.load_state_dict(loaded)
    assert fresh.param_groups[0] == {**opt.param_groups[0], "params": clones}
    assert type(fresh.param_groups[0].get("betas", ())) is tuple
    expected = _continue(opt, params, 3, 6)
    actual = _continue(fresh, clones, 3, 6)
    for a, e in zip(actual, expected):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, e)


def test_state_dict_holds_copies():
    params = make_params()
    opt = Adam(params, lr=0.1)
    _continue(opt, params, 0, 2)
    saved = opt.state_dict()
    before = saved["state"][0]["exp_avg"].copy()
    _continue(opt, params, 2, 4)
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"], before)
    saved["state"][0]["exp_avg"][...] = 0.0
    assert np.any(opt.state[params[0]]["exp_avg"] != 0.0)


def test_load_state_dict_casts_to_param_dtype():
    params = make_params()
    opt = Adam(params)
    _continue(opt, params, 0, 2)
    clones = [cr.tensor(p.data.astype(np.float32), requires_grad=True) for p in params]
    fresh = Adam(clones)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.state[clones[0]]["exp_avg"].dtype == np.float32
    assert fresh.state[clones[0]]["step"] == 2


def test_load_state_dict_rejects_mismatches():
    params = make_params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    _continue(opt, params, 0, 1)
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="1 param groups, the optimizer has 2"):
        SGD([{"params": params[:1]}, {"params": params[1:]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="2 params in the state dict, 1 in the optimizer"):
        SGD(params[:1]).load_state_dict(saved)
    swapped = [cr.tensor(p.data.copy(), requires_grad=True) for p in reversed(params)]
    with pytest.raises(ValueError, match="has shape"):
        SGD(swapped).load_state_dict(saved)


def test_flatten_rejects_what_needs_pickle():
    with pytest.raises(TypeError, match="without pickle"):
        flatten_state_dict({"a": None})


# ----------------------------------------------------------------- schedulers
def make_optimizer(lrs=(0.1, 0.02)):
    params = make_params()
    return SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=1.0)


def scheduled_lrs(scheduler, steps):
    lrs = [scheduler.get_last_lr()]
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
    return lrs


def test_step_lr_follows_closed_form():
    opt = make_optimizer()
    lrs = scheduled_lrs(StepLR(opt, step_size=3, gamma=0.5), 12)
    for epoch, got in enumerate(lrs):
        expected = [base * 0.5 ** (epoch // 3) for base in (0.1, 0.02)]
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert [g["lr"] for g in opt.param_groups] == lrs[-1]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]


@pytest.mark.parametrize("eta_min", [0.0, 0.001])
def test_cosine_annealing_follows_closed_form(eta_min):
    opt = make_optimizer()
    t_max = 5
    lrs = scheduled_lrs(CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min), 3 * t_max)
    for epoch, got in enumerate(lrs):
        expected = [
            eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2
            for base in (0.1, 0.02)
        ]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)


def test_scheduled_lr_is_used_by_the_optimizer():
    a = cr.tensor(np.zeros(1), requires_grad=True)
    opt = SGD([a], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        a.grad = cr.tensor(np.ones(1))
        opt.step()
        sched.step()
    np.testing.assert_allclose(a.data, [-(1.0 + 0.5 + 0.25)])


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: StepLR(opt, step_size=2, gamma=0.3),
        lambda opt: CosineAnnealingLR(opt, T_max=4, eta_min=0.01),
    ],
)
def test_scheduler_state_dict_round_trip(make, tmp_path):
    opt = make_optimizer()
    sched = make(opt)
    scheduled_lrs(sched, 5)
    path = tmp_path / "sched.npz"
    np.savez(
        path, **flatten_state_dict({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()})
    )
    with np.load(path, allow_pickle=False) as archive:
        loaded = unflatten_state_dict(dict(archive))

    fresh_opt = make_optimizer()
    fresh = make(fresh_opt)
    fresh_opt.load_state_dict(loaded["optimizer"])
    fresh.load_state_dict(loaded["scheduler"])
    assert fresh.get_last_lr() == sched.get_last_lr()
    assert scheduled_lrs(fresh, 6) == scheduled_lrs(sched, 6)


def plateau_lrs(metrics, **options):
    opt = make_optimizer(lrs=(1.0,))
    sched = ReduceLROnPlateau(opt, **options)
    lrs = []
    for metric in metrics:
        sched.step(metric)
        lrs.append(sched.get_last_lr()[0])
    return lrs


def test_plateau_patience():
    # Best is 5.0 at epoch 1; epochs 2, 3 are bad but within patience=2; the
    # third bad epoch reduces the lr and restarts the count.
    lrs = plateau_lrs([5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 4.0, 4.0], patience=2, factor=0.5)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_plateau_patience_zero_and_threshold():
    # 4.9996 is not better than 5.0 by the relative threshold 1e-4; 4.999 is.
    lrs = plateau_lrs([5.0, 4.9996, 4.999, 4.999], patience=0, factor=0.5)
    assert lrs == [1.0, 0.5, 0.5, 0.25]
    lrs = plateau_lrs(
        [5.0, 4.95, 4.85], patience=0, factor=0.5, threshold=0.1, threshold_mode="abs"
    )
    assert lrs == [1.0, 0.5, 0.5]


def test_plateau_cooldown():
    # After a reduction, bad epochs in the next `cooldown` epochs are ignored.
    lrs = plateau_lrs([1.0] + [2.0] * 8, patience=0, cooldown=2, factor=0.5)
    assert lrs == [1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125]


def test_plateau_max_mode_min_lr_and_eps():
    lrs = plateau_lrs([1.0, 2.0, 2.0, 2.0, 2.0], mode="max", patience=0, factor=0.1, min_lr=0.005)
    assert lrs == [1.0, 1.0, 0.1, pytest.approx(0.01), 0.005]
    # A reduction smaller than eps is skipped.
    lrs = plateau_lrs([1.0, 2.0, 2.0], patience=0, factor=0.5, min_lr=0.9999, eps=1e-3)
    assert lrs == [1.0, 1.0, 1.0]


def test_plateau_state_dict_round_trip():
    metrics = [3.0, 2.0, 2.5, 2.5, 2.5, 1.0, 1.5, 1.5, 1.5, 1.5]
    opt = make_optimizer(lrs=(1.0,))
    sched = ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5)
    for metric in metrics[:5]:
        sched.step(metric)
    state = unflatten_state_dict(flatten_state_dict(sched.state_dict()))
    fresh_opt = make_optimizer(lrs=(1.0,))
    fresh_opt.load_state_dict(unflatten_state_dict(flatten_state_dict(opt.state_dict())))
    fresh = ReduceLROnPlateau(fresh_opt)
    fresh.load_state_dict(state)
    assert fresh.patience == 1 and fresh.best == 2.0 and fresh.mode == "min"
    for metric in metrics[5:]:
        sched.step(metric)
        fresh.step(metric)
        assert fresh.get_last_lr() == sched.get_last_lr()


def test_scheduler_errors():
    opt = make_optimizer()
    with pytest.raises(TypeError, match="expected an Optimizer"):
        StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="StepLR: invalid step_size=0"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: invalid T_max=0"):
        CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: invalid factor=1.0"):
        ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="invalid mode='avg'"):
        ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="invalid threshold_mode='pct'"):
        ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(ValueError, match="expected 2 min_lr values"):
        ReduceLROnPlateau(opt, min_lr=[0.1])


def test_lr_scheduler_module_is_exported():
    assert lr_scheduler.StepLR is StepLR
    assert issubclass(SGD, Optimizer)


def _torch_lrs(torch, make_scheduler, steps, lrs=(0.1, 0.02), metrics=None):
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=1.0)
    sched = make_scheduler(torch.optim.lr_scheduler, opt)
    history = [] if metrics is not None else [sched.get_last_lr()]
    for step in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[step])
        history.append([float(lr) for lr in sched.get_last_lr()])
    return history


@pytest.mark.parametrize(
    "make_scheduler",
    [
        lambda module, opt: module.StepLR(opt, step_size=3, gamma=0.7),
        lambda module, opt: module.CosineAnnealingLR(opt, T_max=6),
        lambda module, opt: module.CosineAnnealingLR(opt, T_max=4, eta_min=0.005),
    ],
)
def test_epoch_schedulers_match_torch(make_scheduler):
    torch = pytest.importorskip("torch")
    expected = _torch_lrs(torch, make_scheduler, 20)
    actual = scheduled_lrs(make_scheduler(lr_scheduler, make_optimizer()), 20)
    np.testing.assert_allclose(actual, expected, rtol=1e-15, atol=1e-18)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(patience=2, factor=0.5),
        dict(patience=0, cooldown=3, factor=0.3, min_lr=0.01),
        dict(mode="max", patience=1, threshold=0.05, threshold_mode="abs", cooldown=1),
        dict(mode="max", patience=1, threshold=0.01),
    ],
)
def test_plateau_matches_torch(options):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    # A noisy, slowly improving metric, so all branches are exercised.
    metrics = list(np.linspace(3.0, 1.0, 60) + 0.3 * rng.normal(size=60))
    metrics = [float(m) for m in metrics]

    def make(module, opt):
        return module.ReduceLROnPlateau(opt, **options)

    expected = _torch_lrs(torch, make, len(metrics), metrics=metrics)
    opt = make_optimizer()
    sched = make(lr_scheduler, opt)
    actual = []
    for metric in metrics:
        sched.step(metric)
        actual.append(sched.get_last_lr())
    assert actual == expected


# ----------------------------------------------------------------- clipping
def test_clip_grad_norm_scales_by_new_tensors():
    a = cr.tensor(np.zeros(2), requires_grad=True)
    b = cr.tensor(np.zeros(1), requires_grad=True)
    c = cr.tensor(np.zeros(3), requires_grad=True)
    a.grad = cr.tensor(np.array([3.0, 4.0]))
    b.grad = cr.tensor(np.array([12.0]))
    old_grad = a.grad
    total = clip_grad_norm_([a, b, c], max_norm=6.5)
    assert isinstance(total, float) and total == pytest.approx(13.0, rel=1e-15)
    coef = 6.5 / (13.0 + 1e-6)
    np.testing.assert_allclose(a.grad.data, [3.0 * coef, 4.0 * coef], rtol=1e-15)
    np.testing.assert_allclose(b.grad.data, [12.0 * coef], rtol=1e-15)
    assert a.grad is not old_grad
    np.testing.assert_array_equal(old_grad.data, [3.0, 4.0])
    assert c.grad is None


def test_clip_grad_norm_leaves_small_gradients_alone():
    a = cr.tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    a.grad = cr.tensor(np.array([0.3, 0.4], dtype=np.float32))
    assert clip_grad_norm_(a, max_norm=1.0) == pytest.approx(0.5, rel=1e-7)
    np.testing.assert_array_equal(a.grad.data, np.array([0.3, 0.4], dtype=np.float32))
    assert a.grad.data.dtype == np.float32


@pytest.mark.parametrize(
    "norm_type, expected",
    [(1, 19.0), (2.0, 13.0), (3, 1819 ** (1 / 3)), (math.inf, 12.0), ("inf", 12.0)],
)
def test_clip_grad_norm_types(norm_type, expected):
    a = cr.tensor(np.zeros(2), requires_grad=True)
    b = cr.tensor(np.zeros(1), requires_grad=True)
    a.grad = cr.tensor(np.array([3.0, -4.0]))
    b.grad = cr.tensor(np.array([-12.0]))
    total = clip_grad_norm_([a, b], max_norm=1.0, norm_type=norm_type)
    assert total == pytest.approx(expected, rel=1e-5)
    coef = 1.0 / (total + 1e-6)
    np.testing.assert_allclose(b.grad.data, [-12.0 * coef], rtol=1e-12)


def test_clip_grad_norm_edge_cases():
    a = cr.tensor(np.zeros(2), requires_grad=True)
    assert clip_grad_norm_([a], max_norm=1.0) == 0.0
    empty = cr.tensor(np.zeros(0), requires_grad=True)
    empty.grad = cr.tensor(np.zeros(0))
    assert clip_grad_norm_([empty], max_norm=1.0, norm_type=math.inf) == 0.0
    a.grad = cr.tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="total norm"):
        clip_grad_norm_([a], max_norm=1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([a], max_norm=1.0, norm_type=0)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    ours = [cr.tensor(a, requires_grad=True) for a in INIT]
    theirs = [torch.tensor(a, requires_grad=True) for a in INIT]
    for p, q, g in zip(ours, theirs, GRADS[0]):
        p.grad = cr.tensor(g)
        q.grad = torch.tensor(g)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total == pytest.approx(float(expected), rel=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-12)


# ----------------------------------------------------------------- with autodiff
def test_training_a_quadratic_through_backward():
    target = np.array([1.0, -2.0, 0.5])
    w = cr.tensor(np.zeros(3), requires_grad=True)
    opt = Adam([w], lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=300, eta_min=1e-3)
    for _ in range(300):
        opt.zero_grad()
        loss = ((w - cr.tensor(target)) ** 2).sum()
        loss.backward()
        opt.step()
        sched.step()
    np.testing.assert_allclose(w.data, target, atol=1e-3)
