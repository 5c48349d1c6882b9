"""L1, smooth L1, Huber and KL-divergence losses (functions and modules) against PyTorch.

Values and gradients, for the input and the target, must equal PyTorch's in float64 to
1e-10 relative: both are exact formulas, only the rounding order differs.
"""

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.losses import HuberLoss, KLDivLoss, L1Loss, SmoothL1Loss
from chainrule.ops.losses_extra import huber_loss, kl_div, l1_loss, smooth_l1_loss

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-10, 1e-12  # float64 on both sides: rounding order only
REDUCTIONS = ("mean", "sum", "none")


def close(ours, theirs):
    np.testing.assert_allclose(
        np.asarray(ours.numpy() if isinstance(ours, cr.Tensor) else ours),
        theirs.detach().numpy(),
        rtol=RTOL,
        atol=ATOL,
    )


def pairs(*arrays):
    ours = [cr.tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    return ours, theirs


def compare(our_loss, their_loss, arrays, seed=0):
    """Run both on the same float64 arrays; compare the losses and every input's gradient."""
    ours, theirs = pairs(*arrays)
    out, tout = our_loss(*ours), their_loss(*theirs)
    close(out, tout)
    cotangent = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(cotangent)
    tout.backward(torch.tensor(cotangent))
    for mine, reference in zip(ours, theirs):
        close(mine.grad, reference.grad)


def regression_data(shape=(4, 5), seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * 2, rng.standard_normal(shape) * 2


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_loss_matches_torch(reduction):
    compare(
        lambda x, y: l1_loss(x, y, reduction=reduction),
        lambda x, y: F.l1_loss(x, y, reduction=reduction),
        regression_data(),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_l1_and_huber_match_torch(reduction):
    x, y = regression_data()
    w = np.random.default_rng(2).uniform(0.1, 2, x.shape)
    compare(
        lambda x, y, w: l1_loss(x, y, reduction=reduction, weight=w),
        lambda x, y, w: F.l1_loss(x, y, reduction=reduction, weight=w),
        (x, y, w),
    )
    compare(
        lambda x, y, w: huber_loss(x, y, reduction, 0.7, w),
        lambda x, y, w: F.huber_loss(x, y, reduction, 0.7, w),
        (x, y, w),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.5, 0.0])
def test_smooth_l1_loss_matches_torch(reduction, beta):
    compare(
        lambda x, y: smooth_l1_loss(x, y, reduction=reduction, beta=beta),
        lambda x, y: F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
        regression_data(seed=3),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.3, 3.0])
def test_huber_loss_matches_torch(reduction, delta):
    compare(
        lambda x, y: huber_loss(x, y, reduction=reduction, delta=delta),
        lambda x, y: F.huber_loss(x, y, reduction=reduction, delta=delta),
        regression_data(seed=4),
    )


def test_smooth_losses_at_their_kinks_match_torch():
    """Differences exactly at 0 and at +-beta: values and gradients as PyTorch's."""
    x = np.array([0.0, 1.0, -1.0, 0.5, 2.0, -0.5])
    y = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    compare(
        lambda x, y: smooth_l1_loss(x, y, reduction="sum"),
        lambda x, y: F.smooth_l1_loss(x, y, reduction="sum"),
        (x, y),
    )
    compare(
        lambda x, y: huber_loss(x, y, reduction="sum", delta=0.5),
        lambda x, y: F.huber_loss(x, y, reduction="sum", delta=0.5),
        (x, y),
    )
    compare(
        lambda x, y: l1_loss(x, y, reduction="sum"),
        lambda x, y: F.l1_loss(x, y, reduction="sum"),
        (x, y),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS + ("batchmean",))
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((3, 4, 2))
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    q = rng.dirichlet(np.ones(4), size=(3, 2)).transpose(0, 2, 1)
    target = np.log(q) if log_target else q
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns about 'mean'
        compare(
            lambda x, t: kl_div(x, t, reduction=reduction, log_target=log_target),
            lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target),
            (log_p, target),
        )


def test_kl_div_where_the_target_is_zero():
    """0 log 0 = 0, as PyTorch; the input's gradient is -target = 0 there."""
    x = np.log(np.array([[0.2, 0.3, 0.5]]))
    t = np.array([[0.0, 0.4, 0.6]])
    ours = cr.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = kl_div(ours, t, reduction="sum")
    tout = F.kl_div(theirs, torch.tensor(t), reduction="sum")
    close(out, tout)
    out.backward()
    tout.backward()
    close(ours.grad, theirs.grad)


def test_kl_div_broadcasts_the_target_as_torch():
    rng = np.random.default_rng(6)
    compare(
        lambda x, t: kl_div(x, t, reduction="batchmean"),
        lambda x, t: F.kl_div(x, t, reduction="batchmean"),
        (np.log(rng.uniform(0.1, 1, (3, 4))), rng.uniform(0.1, 1, 4)),
    )


def test_second_order_matches_torch():
    """Hessian-vector products of the smooth losses and KL divergence equal PyTorch's."""
    rng = np.random.default_rng(7)
    x, y = regression_data(seed=8)
    direction = rng.standard_normal(x.shape)
    cases = [
        (
            lambda a, b: smooth_l1_loss(a, b, beta=0.8),
            lambda a, b: F.smooth_l1_loss(a, b, beta=0.8),
            (x, y),
        ),
        (
            lambda a, b: huber_loss(a, b, delta=1.5),
            lambda a, b: F.huber_loss(a, b, delta=1.5),
            (x, y),
        ),
        (
            lambda a, b: kl_div(a, b, reduction="batchmean"),
            lambda a, b: F.kl_div(a, b, reduction="batchmean"),
            (x, rng.uniform(0.1, 1, x.shape)),
        ),
    ]
    for ours_fn, theirs_fn, arrays in cases:
        ours, theirs = pairs(*arrays)
        (gx,) = cr.autograd.grad(ours_fn(*ours), [ours[0]], create_graph=True)
        (gx * cr.tensor(direction)).sum().backward()
        (tgx,) = torch.autograd.grad(theirs_fn(*theirs), [theirs[0]], create_graph=True)
        (tgx * torch.tensor(direction)).sum().backward()
        close(gx.detach(), tgx)
        for mine, reference in zip(ours, theirs):
            if reference.grad is None:  # no second-order term: torch leaves None
                assert mine.grad is None or not np.any(mine.grad.numpy())
            else:
                close(mine.grad, reference.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_match_torch(reduction):
    x, y = regression_data(seed=9)
    for ours, theirs in [
        (L1Loss(reduction=reduction), torch.nn.L1Loss(reduction=reduction)),
        (
            SmoothL1Loss(reduction=reduction, beta=0.6),
            torch.nn.SmoothL1Loss(reduction=reduction, beta=0.6),
        ),
        (HuberLoss(reduction, 1.7), torch.nn.HuberLoss(reduction, 1.7)),
    ]:
        assert repr(ours) == repr(theirs)
        compare(ours, theirs, (x, y))
    q = np.random.default_rng(10).uniform(0.1, 1, x.shape)
    compare(
        KLDivLoss(reduction="batchmean", log_target=True),
        torch.nn.KLDivLoss(reduction="batchmean", log_target=True),
        (x, np.log(q)),
    )


def test_deprecated_size_average_and_reduce_as_torch():
    x, y = regression_data(seed=11)
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = F.l1_loss(torch.tensor(x), torch.tensor(y), size_average, reduce)
            ours = l1_loss(x, y, size_average, reduce)
            module = L1Loss(size_average, reduce)(cr.tensor(x), cr.tensor(y))
        close(ours, theirs)
        close(module, theirs)
    with pytest.warns(UserWarning, match="deprecated"):
        smooth_l1_loss(x, y, False)


def test_losses_keep_float32_and_give_no_tensor_for_arrays():
    x, y = (a.astype(np.float32) for a in regression_data(seed=12))
    for loss in (
        lambda a, b: l1_loss(a, b),
        lambda a, b: smooth_l1_loss(a, b, beta=0.5),
        lambda a, b: huber_loss(a, b),
        lambda a, b: kl_div(a, np.abs(b) + 0.1),
        lambda a, b: l1_loss(a, b, weight=np.ones(a.shape)),
    ):
        t = cr.tensor(x, requires_grad=True)
        out = loss(t, y.astype(np.float64))  # a float64 target is cast to the input's dtype
        assert out.dtype == np.float32
        out.backward()
        assert t.grad.dtype == np.float32
        plain = loss(x, y)
        assert not isinstance(plain, cr.Tensor) and np.asarray(plain).dtype == np.float32


def test_loss_errors():
    x = np.zeros((2, 3))
    with pytest.raises(cr.ShapeError, match=r"l1_loss: target of shape \(3,\).*\(2, 3\)"):
        l1_loss(x, np.zeros(3))
    with pytest.raises(cr.ShapeError, match=r"huber_loss: weight of shape \(3,\)"):
        huber_loss(x, x, weight=np.ones(3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        l1_loss(x, x, reduction="batchmean")
    with pytest.raises(ValueError, match="reduction must be one of"):
        kl_div(x, x, reduction="average")
    with pytest.raises(ValueError, match="beta must be non-negative"):
        smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="delta must be positive"):
        huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        L1Loss(reduction="batchmean")
    with pytest.raises(ValueError, match="delta must be positive"):
        HuberLoss(delta=-1.0)
    assert KLDivLoss(reduction="batchmean").reduction == "batchmean"


def test_signatures_match_torch():
    import inspect

    def names(function):
        return [p for p in inspect.signature(function).parameters if p not in ("self",)]

    for ours, theirs in [
        (l1_loss, F.l1_loss),
        (smooth_l1_loss, F.smooth_l1_loss),
        (huber_loss, F.huber_loss),
        (kl_div, F.kl_div),
    ]:
        assert names(ours) == names(theirs)
    for ours, theirs in [
        (L1Loss, torch.nn.L1Loss),
        (SmoothL1Loss, torch.nn.SmoothL1Loss),
        (HuberLoss, torch.nn.HuberLoss),
        (KLDivLoss, torch.nn.KLDivLoss),
    ]:
        assert names(ours.__init__) == names(theirs.__init__) + ["dtype"]
