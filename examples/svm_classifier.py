"""A linear multi-class SVM on digits: hinge loss with ``MultiMarginLoss``.

For scores s = x W + b of one sample with label y, the multi-class hinge loss is
L = 1/C sum_{j != y} max(0, 1 - s_y + s_j) (PyTorch's ``MultiMarginLoss``, which
divides by the number of classes C). Its gradient routes like a max gate: every
class j whose margin is violated gets +1/C, the true class gets -1/C for each of
them, and classes with satisfied margins get nothing. This script checks that rule
against autograd, then trains with SGD, momentum and weight decay (the SVM's L2
penalty on W and b).

    python examples/svm_classifier.py
"""

import numpy as np

import chainrule as cr


def hand_hinge_gradient(scores, y):
    """dL/ds for the mean multi-class hinge loss over the batch (margin 1)."""
    m, classes = scores.shape
    rows = np.arange(m)
    margins = 1 - scores[rows, y][:, None] + scores
    grad = (margins > 0).astype(scores.dtype)  # +1 for each violated margin
    grad[rows, y] = 0
    grad[rows, y] = -grad.sum(axis=1)  # the true class: -1 for each of them
    return grad / (classes * m)


def gradient_error(x, y, num_classes, seed=0):
    """Largest difference between autograd's dL/ds and the hand rule, in float64."""
    rng = np.random.default_rng(seed)
    w = cr.tensor(rng.normal(0.0, 0.3, (x.shape[1], num_classes)), requires_grad=True)
    scores = cr.tensor(x.astype(np.float64)) @ w
    scores.retain_grad()
    cr.nn.MultiMarginLoss()(scores, y).backward()
    return float(np.max(np.abs(scores.grad.numpy() - hand_hinge_gradient(scores.numpy(), y))))


def main(epochs=20, lr=0.05, weight_decay=1e-3, batch_size=32, seed=0, verbose=True):
    """Check the hinge gradient, train on digits; returns the check and the test accuracy."""
    ds = cr.data.load_dataset("digits")
    error = gradient_error(ds.x_train[:100], ds.y_train[:100], ds.num_classes, seed)

    model = cr.nn.Linear(ds.num_features, ds.num_classes, rng=seed)
    loss_fn = cr.nn.MultiMarginLoss()
    optimizer = cr.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    loader = cr.data.DataLoader(ds.x_train, ds.y_train, batch_size=batch_size, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = loss_fn(model(cr.tensor(xb)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    with cr.no_grad():
        predicted = model(cr.tensor(ds.x_test)).numpy().argmax(axis=1)
    accuracy = float(np.mean(predicted == ds.y_test))
    if verbose:
        print(f"max |dL/ds - hand hinge rule| = {error:.1e}")
        print(
            f"after {epochs} epochs: last batch loss {loss.item():.4f}, test accuracy "
            f"{accuracy:.4f} ({len(ds.y_test)} samples)"
        )
    return {"grad_max_error": error, "train_loss": loss.item(), "test_accuracy": accuracy}


if __name__ == "__main__":
    main()
