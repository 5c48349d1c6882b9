"""The notes' three-layer network, trained on digits.

The forward pass is the notes' one, with samples in columns::

    h1 = sigmoid(W1 x + b1)
    h2 = sigmoid(W2 h1 + b2)
    out = W3 h2 + b3          # one score per class

written with chainrule tensors and nothing else; backward() finds the gradients of all
six parameters, which this script checks against central differences
(``cr.gradcheck``) before training with mini-batch SGD and momentum on softmax
cross-entropy.

    python examples/three_layer_network.py
"""

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F


def init_params(sizes, rng, dtype=np.float64):
    """W^l of shape (n_l, n_(l-1)) scaled by 1/sqrt(n_(l-1)), and column biases b^l = 0."""
    params = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        w = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
        params += [
            cr.tensor(w.astype(dtype), requires_grad=True),
            cr.tensor(np.zeros((n_out, 1), dtype), requires_grad=True),
        ]
    return params


def forward(params, x):
    """Class scores of shape (classes, m) for inputs ``x`` of shape (features, m)."""
    w1, b1, w2, b2, w3, b3 = params
    h1 = (w1 @ x + b1).sigmoid()
    h2 = (w2 @ h1 + b2).sigmoid()
    return w3 @ h2 + b3


def loss_of(params, x, y):
    """Mean softmax cross-entropy; F.cross_entropy wants samples in rows, hence out.T."""
    return F.cross_entropy(forward(params, x).T, y)


def main(epochs=20, lr=0.1, hidden=32, batch_size=32, seed=0, verbose=True):
    """Check the gradients, train; returns the check, the final loss and the test accuracy."""
    ds = cr.data.load_dataset("digits")
    rng = np.random.default_rng(seed)
    sizes = [ds.num_features, hidden, hidden, ds.num_classes]

    # Gradient check in float64 on a few samples, at random weights.
    check_params = init_params(sizes, rng)
    x_few = cr.tensor(ds.x_train[:4].T.astype(np.float64))
    checked = cr.gradcheck(lambda *p: loss_of(p, x_few, ds.y_train[:4]), check_params)

    params = init_params(sizes, rng, dtype=np.float32)
    optimizer = cr.optim.SGD(params, lr=lr, momentum=0.9)
    loader = cr.data.DataLoader(ds.x_train, ds.y_train, batch_size=batch_size, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = loss_of(params, cr.tensor(xb.T), yb)  # samples in columns
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    with cr.no_grad():
        predicted = forward(params, cr.tensor(ds.x_test.T)).numpy().argmax(axis=0)
    accuracy = float(np.mean(predicted == ds.y_test))
    if verbose:
        print(f"layers {sizes}: gradcheck {'passed' if checked else 'failed'}")
        print(
            f"after {epochs} epochs: last batch loss {loss.item():.4f}, test accuracy "
            f"{accuracy:.4f} ({len(ds.y_test)} samples)"
        )
    return {"gradcheck": checked, "train_loss": loss.item(), "test_accuracy": accuracy}


if __name__ == "__main__":
    main()
