"""Logistic regression on breast_cancer: a sigmoid unit trained with binary cross-entropy.

For a = sigmoid(z) and L = -(y log a + (1 - y) log(1 - a)), the notes derive
dL/dz = a - y: the sigmoid's derivative a (1 - a) cancels the denominators of the
log terms. This script builds that graph from chainrule tensors (log, sigmoid, mul,
mean), checks that autograd finds exactly a - y, then trains with gradient descent.

Training uses ``binary_cross_entropy_with_logits``, the same loss computed from z in
one stable step: once the data are separated, a rounds to exactly 0 or 1 in floating
point and log(a) would be -inf. Its gradient is a - y as well.

    python examples/logistic_regression.py
"""

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F


def bce(a, y):
    """Mean binary cross-entropy of probabilities ``a`` against labels ``y``, as in the notes."""
    return -(y * a.log() + (1 - y) * (1 - a).log()).mean()


def dz_error(x, y, loss_of, seed=0):
    """Largest difference between autograd's dL/dz and the notes' (a - y) / m.

    Checked at random weights, where a takes all kinds of values.
    """
    rng = np.random.default_rng(seed)
    w = cr.tensor(rng.normal(0.0, 0.3, size=x.shape[1]), requires_grad=True)
    z = x @ w + rng.normal()
    z.retain_grad()
    a = z.sigmoid()
    loss_of(z, a).backward()
    # The loss is a mean over m samples, so each sample's dz is (a - y) / m.
    return float(np.max(np.abs(z.grad.numpy() - (a.numpy() - y.numpy()) / len(y))))


def main(epochs=300, lr=0.5, verbose=True):
    """Train on breast_cancer; returns the dz checks, the final loss and the test accuracy."""
    ds = cr.data.load_dataset("breast_cancer")
    # float64 so that autograd and the hand formula agree to rounding error.
    x, y = cr.tensor(ds.x_train.astype(np.float64)), cr.tensor(ds.y_train.astype(np.float64))
    w = cr.tensor(np.zeros(ds.num_features), requires_grad=True, name="w")
    b = cr.tensor(np.float64(0.0), requires_grad=True, name="b")

    naive_error = dz_error(x, y, lambda z, a: bce(a, y))
    fused_error = dz_error(x, y, lambda z, a: F.binary_cross_entropy_with_logits(z, y))
    for _ in range(epochs):
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y)
        w.grad = b.grad = None
        loss.backward()
        with cr.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad

    predicted = (ds.x_test @ w.numpy() + b.item()) > 0
    accuracy = float(np.mean(predicted == ds.y_test))
    if verbose:
        print(
            f"max |dL/dz - (a - y)/m|: {naive_error:.1e} through log and sigmoid, "
            f"{fused_error:.1e} for the fused loss"
        )
        print(
            f"after {epochs} steps: train loss {loss.item():.4f}, test accuracy "
            f"{accuracy:.4f} ({len(ds.y_test)} samples)"
        )
    return {
        "dz_max_error": max(naive_error, fused_error),
        "train_loss": loss.item(),
        "test_accuracy": accuracy,
    }


if __name__ == "__main__":
    main()
