"""An L-layer sigmoid network with squared loss: the notes' backprop formulas against chainrule.

Samples are in columns: A^0 = X is (n_0, m), Z^l = W^l A^(l-1) + b^l, A^l = sigma(Z^l),
and the cost is C = 1/(2m) sum ||A^L - Y||^2. The notes' backward pass::

    dZ^L = dC/dA^L * sigma'(Z^L)                 (* is the elementwise product)
    dZ^l = ((W^(l+1))^T dZ^(l+1)) * sigma'(Z^l)
    dW^l = dZ^l (A^(l-1))^T
    db^l = dZ^l 1                                (the sum over the m columns)

``hand_gradients`` writes these in NumPy; chainrule finds the same numbers with
``backward()`` from the forward pass alone. The network is then trained on digits
(one-hot targets) with plain mini-batch SGD. The learning rate is large because
the 1/m of the cost and sigma' <= 1/4 at every layer make the gradients small.

    python examples/l_layer_squared_loss.py
"""

import numpy as np

import chainrule as cr


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def init_params(sizes, rng):
    """[(W^1, b^1), ...] with W^l of shape (n_l, n_(l-1)) and b^l of shape (n_l, 1)."""
    return [
        (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), np.zeros((n_out, 1)))
        for n_in, n_out in zip(sizes, sizes[1:])
    ]


def hand_gradients(params, x, y):
    """The notes' formulas: returns [(dW^1, db^1), ...] for the cost C above."""
    m = x.shape[1]
    activations, pre = [x], []
    for w, b in params:
        pre.append(w @ activations[-1] + b)
        activations.append(sigmoid(pre[-1]))
    d_a = (activations[-1] - y) / m  # dC/dA^L
    grads = []
    for layer in reversed(range(len(params))):
        s = sigmoid(pre[layer])
        d_z = d_a * s * (1 - s)  # sigma'(Z) = sigma(Z) (1 - sigma(Z))
        grads.insert(0, (d_z @ activations[layer].T, d_z @ np.ones((m, 1))))
        d_a = params[layer][0].T @ d_z
    return grads


def cost(tensors, x, y):
    """C = 1/(2m) sum ||A^L - Y||^2, built from chainrule tensors."""
    a = x
    for w, b in tensors:
        a = (w @ a + b).sigmoid()
    return ((a - y) ** 2).sum() / (2 * x.shape[1])


def autograd_gradients(params, x, y):
    tensors = [
        (cr.tensor(w, requires_grad=True), cr.tensor(b, requires_grad=True)) for w, b in params
    ]
    cost(tensors, cr.tensor(x), cr.tensor(y)).backward()
    return [(w.grad.numpy(), b.grad.numpy()) for w, b in tensors]


def max_relative_error(params, x, y):
    """Largest |chainrule - hand| / max|hand| over every layer's dW and db (float64)."""
    params = [(w.astype(np.float64), b.astype(np.float64)) for w, b in params]
    x, y = x.astype(np.float64), y.astype(np.float64)
    errors = [
        np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
        for hand, auto in zip(hand_gradients(params, x, y), autograd_gradients(params, x, y))
        for theirs, ours in zip(hand, auto)
    ]
    return float(max(errors))


def main(sizes=(64, 64, 32, 10), epochs=20, lr=5.0, batch_size=32, seed=0, verbose=True):
    """Compare hand and chainrule gradients, train on digits; returns the key numbers."""
    ds = cr.data.load_dataset("digits")
    rng = np.random.default_rng(seed)
    one_hot = cr.data.one_hot(ds.y_train, ds.num_classes).T  # (classes, m)
    params = init_params(sizes, rng)
    error_at_start = max_relative_error(params, ds.x_train[:64].T, one_hot[:, :64])

    tensors = [
        (
            cr.tensor(w.astype(np.float32), requires_grad=True),
            cr.tensor(b.astype(np.float32), requires_grad=True),
        )
        for w, b in params
    ]
    optimizer = cr.optim.SGD([p for layer in tensors for p in layer], lr=lr)
    loader = cr.data.DataLoader(ds.x_train, ds.y_train, batch_size=batch_size, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            targets = cr.data.one_hot(yb, ds.num_classes).T
            loss = cost(tensors, cr.tensor(xb.T), cr.tensor(targets))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    trained = [(w.numpy(), b.numpy()) for w, b in tensors]
    error_trained = max_relative_error(trained, ds.x_train[:64].T, one_hot[:, :64])
    with cr.no_grad():
        scores = cr.tensor(ds.x_test.T)
        for w, b in tensors:
            scores = (w @ scores + b).sigmoid()
    accuracy = float(np.mean(scores.numpy().argmax(axis=0) == ds.y_test))
    if verbose:
        print(
            f"layers {list(sizes)}: max relative difference between the hand formulas and "
            f"chainrule: {error_at_start:.1e} at the start, {error_trained:.1e} trained"
        )
        print(f"after {epochs} epochs: test accuracy {accuracy:.4f} ({len(ds.y_test)} samples)")
    return {"max_relative_error": max(error_at_start, error_trained), "test_accuracy": accuracy}


if __name__ == "__main__":
    main()
