"""A softmax (multinomial logistic regression) classifier on digits.

Scores Z = X W + b go through softmax, and the loss is the mean cross-entropy
L = -1/m sum_i log softmax(Z_i)[y_i]. As for the sigmoid with binary cross-entropy,
the gradient with respect to the scores is simply dZ = (softmax(Z) - Y) / m, with Y
the one-hot labels. This script checks that against autograd, then trains W and b with
mini-batch SGD and momentum.

    python examples/softmax_classifier.py
"""

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F


def dz_error(x, y, num_classes, seed=0):
    """Largest difference between autograd's dL/dZ and (softmax(Z) - Y) / m, in float64."""
    rng = np.random.default_rng(seed)
    w = cr.tensor(rng.normal(0.0, 0.1, (x.shape[1], num_classes)), requires_grad=True)
    z = cr.tensor(x.astype(np.float64)) @ w
    z.retain_grad()
    F.cross_entropy(z, y).backward()
    expected = (F.softmax(z, axis=1).numpy() - cr.data.one_hot(y, num_classes)) / len(y)
    return float(np.max(np.abs(z.grad.numpy() - expected)))


def main(epochs=20, lr=0.05, batch_size=32, seed=0, verbose=True):
    """Check dZ, train on digits; returns the check, the final loss and the test accuracy."""
    ds = cr.data.load_dataset("digits")
    error = dz_error(ds.x_train[:100], ds.y_train[:100], ds.num_classes, seed)

    w = cr.zeros(ds.num_features, ds.num_classes, requires_grad=True)
    b = cr.zeros(ds.num_classes, requires_grad=True)
    optimizer = cr.optim.SGD([w, b], lr=lr, momentum=0.9)
    loader = cr.data.DataLoader(ds.x_train, ds.y_train, batch_size=batch_size, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(cr.tensor(xb) @ w + b, yb)  # b broadcast over the batch
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    predicted = (ds.x_test @ w.numpy() + b.numpy()).argmax(axis=1)
    accuracy = float(np.mean(predicted == ds.y_test))
    if verbose:
        print(f"max |dL/dZ - (softmax(Z) - Y)/m| = {error:.1e}")
        print(
            f"after {epochs} epochs: last batch loss {loss.item():.4f}, test accuracy "
            f"{accuracy:.4f} ({len(ds.y_test)} samples)"
        )
    return {"dz_max_error": error, "train_loss": loss.item(), "test_accuracy": accuracy}


if __name__ == "__main__":
    main()
