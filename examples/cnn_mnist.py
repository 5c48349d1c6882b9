"""A LeNet-like convolutional network on the offline MNIST subset.

    conv 5x5 (pad 2) -> relu -> max-pool 2      28x28 -> 14x14
    conv 5x5         -> relu -> max-pool 2      14x14 -> 5x5
    flatten -> linear -> relu -> linear          -> 10 class scores

trained with Adam, the learning rate annealed to zero over the run by a cosine
schedule (stepped once per batch), and light augmentation: every training image is
shifted by up to two pixels each way (the loader's ``crop_padding``: pad with zeros,
cut a random 28x28 window back out), so the network cannot learn where in the frame
each digit sits. The subset has 4,000 training and 1,000 test images.

    python examples/cnn_mnist.py
"""

import functools
import time

import numpy as np

import chainrule as cr
from chainrule import nn


def make_model(channels=(20, 50), hidden=256, dtype=np.float32, rng=0):
    """The network for 1 x 28 x 28 images, its parameters drawn from ``rng``."""
    rng = np.random.default_rng(rng)
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 5 * 5, hidden, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.Linear(hidden, 10, dtype=dtype, rng=rng),
    )


@functools.cache  # loading and splitting takes seconds: once per process
def load_images():
    """MNIST as (N, 1, 28, 28) float32 images, scaled by the training set's mean and
    standard deviation (one number each: every pixel shares them, as a convolution
    shares its weights across pixels)."""
    ds = cr.data.load_dataset("mnist", standardize=False)
    x_train = ds.x_train.reshape(-1, 1, 28, 28)
    x_test = ds.x_test.reshape(-1, 1, 28, 28)
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, ds.y_train, (x_test - mean) / std, ds.y_test


def accuracy(model, x, y, batch_size=500):
    model.eval()
    with cr.no_grad():
        predicted = np.concatenate(
            [
                model(cr.tensor(x[i : i + batch_size])).numpy().argmax(1)
                for i in range(0, len(x), batch_size)
            ]
        )
    model.train()
    return float(np.mean(predicted == y))


def main(
    epochs=8,
    channels=(20, 50),
    hidden=256,
    batch_size=64,
    lr=2e-3,
    shift=2,
    train_size=None,
    seed=0,
    verbose=True,
):
    """Train and evaluate; returns the final loss, the test accuracy and the seconds the
    training took. ``train_size`` keeps only the first images (for quick runs)."""
    x_train, y_train, x_test, y_test = load_images()
    if train_size is not None:
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    model = make_model(channels, hidden, rng=seed)
    loader = cr.data.DataLoader(
        x_train, y_train, batch_size=batch_size, seed=seed, crop_padding=shift
    )
    optimizer = cr.optim.Adam(model.parameters(), lr=lr)
    schedule = cr.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()

    start = time.perf_counter()
    for epoch in range(epochs):
        for xb, yb in loader:
            loss = loss_fn(model(cr.tensor(xb)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if verbose:
            print(
                f"epoch {epoch + 1}: last batch loss {loss.item():.4f}, "
                f"{time.perf_counter() - start:.0f} s"
            )
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, x_test, y_test)
    if verbose:
        print(
            f"test accuracy {test_accuracy:.4f} ({len(y_test)} images) after {epochs} "
            f"epochs in {seconds:.0f} s"
        )
    return {"train_loss": loss.item(), "test_accuracy": test_accuracy, "seconds": seconds}


if __name__ == "__main__":
    main()
