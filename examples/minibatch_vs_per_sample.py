"""Full-matrix mini-batch backprop equals the average of per-sample backprop, and is faster.

With a loss that is the mean over the batch, the gradient of a batch of m samples is
the average of the m single-sample gradients. Stacking the samples into one matrix
turns m small matrix-vector products into one matrix-matrix product per layer, which
is where the speed-up comes from. This script checks the equality on digits and times
both ways.

    python examples/minibatch_vs_per_sample.py
"""

import contextlib
import time

import numpy as np

import chainrule as cr


def make_model(num_features, num_classes, hidden=128, seed=0):
    rng = np.random.default_rng(seed)
    # float64, so the two ways agree to rounding error.
    return cr.nn.Sequential(
        cr.nn.Linear(num_features, hidden, dtype=np.float64, rng=rng),
        cr.nn.ReLU(),
        cr.nn.Linear(hidden, num_classes, dtype=np.float64, rng=rng),
    )


def batch_gradients(model, loss_fn, x, y):
    """One forward and one backward pass over the whole batch (mean loss)."""
    model.zero_grad()
    loss_fn(model(cr.tensor(x)), y).backward()
    return [p.grad.numpy() for p in model.parameters()]


def per_sample_gradients(model, loss_fn, x, y):
    """One forward and backward pass per sample, averaged."""
    total = None
    for i in range(len(x)):
        grads = batch_gradients(model, loss_fn, x[i : i + 1], y[i : i + 1])
        total = grads if total is None else [t + g for t, g in zip(total, grads)]
    return [t / len(x) for t in total]


def seconds_per_call(function, repeats):
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def one_blas_thread():
    """One BLAS thread, when threadpoolctl (a scikit-learn dependency) is installed.

    Products this small finish before extra threads get going; on a busy or small
    machine, waiting for them can cost more than the product itself.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def main(batch_size=64, repeats=20, verbose=True):
    """Compare and time; returns the largest difference and the speed-up."""
    ds = cr.data.load_dataset("digits")
    x, y = ds.x_train[:batch_size].astype(np.float64), ds.y_train[:batch_size]
    model = make_model(ds.num_features, ds.num_classes)
    loss_fn = cr.nn.CrossEntropyLoss()

    batch = batch_gradients(model, loss_fn, x, y)
    averaged = per_sample_gradients(model, loss_fn, x, y)
    difference = max(float(np.max(np.abs(b - a))) for b, a in zip(batch, averaged))

    with one_blas_thread():
        batch_time = seconds_per_call(lambda: batch_gradients(model, loss_fn, x, y), repeats)
        sample_time = seconds_per_call(lambda: per_sample_gradients(model, loss_fn, x, y), repeats)
    speedup = sample_time / batch_time
    if verbose:
        print(
            f"batch of {batch_size}: max |batch gradient - mean of per-sample gradients| "
            f"= {difference:.1e}"
        )
        print(
            f"one batch pass {batch_time * 1e3:.2f} ms, {batch_size} per-sample passes "
            f"{sample_time * 1e3:.2f} ms: {speedup:.1f}x faster as one matrix"
        )
    return {
        "max_difference": difference,
        "batch_seconds": batch_time,
        "per_sample_seconds": sample_time,
        "speedup": speedup,
    }


if __name__ == "__main__":
    main()
