"""Each script under examples/ runs, with small settings, and reports sensible numbers."""

import importlib.util
import pathlib

import numpy as np
import pytest

import chainrule as cr

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_covered():
    tested = {
        "logistic_regression",
        "three_layer_network",
        "l_layer_squared_loss",
        "minibatch_vs_per_sample",
        "softmax_classifier",
        "svm_classifier",
        "cnn_mnist",
        "batchnorm_backward",
        "im2col_convolution",
        "rnn_backprop_through_time",
        "lstm_char_model",
        "transformer_reversal",
    }
    assert {path.stem for path in EXAMPLES.glob("*.py")} == tested


def test_logistic_regression(capsys):
    result = load_example("logistic_regression").main(epochs=100)
    assert result["dz_max_error"] < 1e-15  # dz = a - y, to rounding error
    assert result["test_accuracy"] >= 0.95
    assert "test accuracy" in capsys.readouterr().out


def test_three_layer_network():
    result = load_example("three_layer_network").main(epochs=5, verbose=False)
    assert result["gradcheck"] is True
    assert result["test_accuracy"] >= 0.9


def test_l_layer_squared_loss():
    result = load_example("l_layer_squared_loss").main(epochs=5, verbose=False)
    assert result["max_relative_error"] < 1e-12
    assert result["test_accuracy"] >= 0.85


@pytest.mark.parametrize("sizes", [[5, 3], [5, 4, 3], [6, 5, 4, 4, 3, 2]])
def test_l_layer_hand_formulas_hold_for_any_depth(sizes):
    module = load_example("l_layer_squared_loss")
    rng = np.random.default_rng(len(sizes))
    params = module.init_params(sizes, rng)
    x, y = rng.normal(size=(sizes[0], 7)), rng.uniform(size=(sizes[-1], 7))
    grads = module.hand_gradients(params, x, y)
    assert [(dw.shape, db.shape) for dw, db in grads] == [(w.shape, b.shape) for w, b in params]
    assert module.max_relative_error(params, x, y) < 1e-12


def test_minibatch_vs_per_sample(capsys):
    result = load_example("minibatch_vs_per_sample").main(batch_size=16, repeats=2)
    assert result["max_difference"] < 1e-12
    # The speed-up is printed, not asserted: it depends on what else the machine is doing.
    assert "faster" in capsys.readouterr().out


def test_softmax_classifier():
    result = load_example("softmax_classifier").main(epochs=5, verbose=False)
    assert result["dz_max_error"] < 1e-15
    assert result["test_accuracy"] >= 0.93


def test_svm_classifier():
    result = load_example("svm_classifier").main(epochs=5, verbose=False)
    assert result["grad_max_error"] < 1e-15
    assert result["test_accuracy"] >= 0.9


@pytest.mark.parametrize("name", ["logistic_regression", "softmax_classifier"])
def test_examples_are_deterministic(name):
    module = load_example(name)
    first = module.main(epochs=2, verbose=False)
    second = module.main(epochs=2, verbose=False)
    assert first == second


# In float64 the hand-written gradients and chainrule's differ by rounding alone (a few
# 1e-16 relative here); 1e-10 leaves room for that and nothing else. Central differences
# with h = 1e-5 are good to about 1e-10 (h**2 truncation, eps / h rounding), hence 1e-7.
EXACT, NUMERIC = 1e-10, 1e-7


def test_batchnorm_backward_matches_chainrule_and_finite_differences(capsys):
    result = load_example("batchnorm_backward").main()
    numeric = result.pop("staged_vs_numeric")
    assert numeric < NUMERIC
    assert all(value < EXACT for value in result.values()), result
    # The speed of the two backward passes is printed, not asserted.
    assert "the time of the staged backward" in capsys.readouterr().out


@pytest.mark.parametrize("n, d", [(2, 1), (3, 4), (50, 7)])
def test_batchnorm_staged_and_one_line_backward_agree(n, d):
    module = load_example("batchnorm_backward")
    rng = np.random.default_rng(n)
    x, dy = rng.normal(2.0, 3.0, (n, d)), rng.normal(size=(n, d))
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    _, cache = module.batchnorm_forward(x, gamma, beta)
    staged = module.batchnorm_backward(dy, cache)
    for a, b in zip(staged, module.batchnorm_backward_alt(dy, cache)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # dx sums to zero over the batch: shifting every sample's x by the same amount
    # changes nothing after the normalisation.
    np.testing.assert_allclose(staged[0].sum(axis=0), 0, atol=1e-10)


def test_spatial_batchnorm_matches_batchnorm2d_on_another_shape():
    result = load_example("batchnorm_backward").main(
        n=4, d=2, image=(2, 4, 3, 1), seed=3, verbose=False
    )
    assert result["spatial_vs_chainrule"] < EXACT
    assert result["spatial_forward_vs_chainrule"] < EXACT


@pytest.mark.parametrize(
    "geometry",
    [
        {},  # 3x3, stride 2, padding 1 on a 7x6 image
        {"stride": 1, "padding": 0},
        {"kernel": (2, 3), "stride": 3, "padding": 2, "size": (5, 9)},  # gaps between windows
        {"kernel": (1, 1), "stride": 1, "padding": 0, "batch": 1, "channels": 1},
    ],
)
def test_im2col_convolution_matches_conv2d(geometry):
    result = load_example("im2col_convolution").main(verbose=False, **geometry)
    assert all(value < EXACT for value in result.values()), result


def test_im2col_columns_are_the_receptive_fields(capsys):
    module = load_example("im2col_convolution")
    cols = module.im2col(np.arange(16.0).reshape(1, 1, 4, 4), 3, 3)
    # The first window is the top-left 3x3 block, the last the bottom-right one.
    np.testing.assert_array_equal(cols[:, 0], [0, 1, 2, 4, 5, 6, 8, 9, 10])
    np.testing.assert_array_equal(cols[:, 3], [5, 6, 7, 9, 10, 11, 13, 14, 15])
    # col2im of all-ones columns counts how many windows cover each pixel.
    counts = module.col2im(np.ones((9, 4)), (1, 1, 4, 4), 3, 3)[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    module.main()
    assert "im2col matrix" in capsys.readouterr().out


# A small network on a quarter of the images for two epochs: the full run (8 epochs, 20 and
# 50 channels) takes minutes and is measured by hand; this checks that it learns.
SMALL_CNN = {
    "epochs": 2,
    "channels": (6, 16),
    "hidden": 64,
    "train_size": 1000,
    "batch_size": 32,
    "verbose": False,
}


def test_cnn_mnist_learns():
    result = load_example("cnn_mnist").main(**SMALL_CNN)
    assert result["test_accuracy"] >= 0.6  # 0.76-0.80 over seeds; chance is 0.1


def test_cnn_mnist_is_deterministic():
    module = load_example("cnn_mnist")
    small = {**SMALL_CNN, "epochs": 1, "train_size": 256}
    first, second = module.main(**small), module.main(**small)
    assert (first["train_loss"], first["test_accuracy"]) == (
        second["train_loss"],
        second["test_accuracy"],
    )


def test_cnn_mnist_model_takes_images_to_class_scores():
    model = load_example("cnn_mnist").make_model(channels=(2, 3), hidden=8)
    assert model(cr.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert [tuple(p.shape) for p in model.parameters()] == [
        (2, 1, 5, 5),
        (2,),
        (3, 2, 5, 5),
        (3,),
        (8, 75),
        (8,),
        (10, 8),
        (10,),
    ]


@pytest.mark.slow
def test_cnn_mnist_reaches_the_target_accuracy():
    """Issue #17's target for a LeNet-like CNN on the MNIST subset: >= 0.975 test accuracy
    (seeds 0-2 gave 0.983, 0.979, 0.980). 35-75 s on 2 quiet cores; speed is not asserted."""
    assert load_example("cnn_mnist").main(verbose=False)["test_accuracy"] >= 0.975


# --------------------------------------------------------------------- sequence models
def test_rnn_backprop_through_time_matches_chainrule(capsys):
    result = load_example("rnn_backprop_through_time").main()
    norms = result.pop("edge_norms")
    assert all(value < EXACT for value in result.values()), result
    # With W_hh's entries at 0.6 / sqrt(hidden), each step back shrinks the gradient:
    # after the 11 steps from h_11 to h_0 little of it is left.
    assert norms[-1] < 1e-3 * norms[0]
    assert "carried back along the recurrent edge" in capsys.readouterr().out


@pytest.mark.parametrize("steps, batch, hidden", [(1, 1, 3), (2, 4, 1), (30, 2, 6)])
def test_rnn_backprop_through_time_for_other_sizes(steps, batch, hidden):
    result = load_example("rnn_backprop_through_time").main(
        steps=steps, batch=batch, hidden=hidden, scale=1.5, seed=steps, verbose=False
    )
    assert len(result.pop("edge_norms")) == steps
    assert all(value < EXACT for value in result.values()), result


def test_rnn_recurrent_edge_is_w_hh_transposed_times_the_tanh_gradient():
    module = load_example("rnn_backprop_through_time")
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 5))
    w_xh, w_hh, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 5)), rng.normal(size=5)
    states = module.rnn_forward(x, h0, w_xh, w_hh, b)
    dh = np.zeros_like(states)
    dh[-1] = rng.normal(size=(2, 5))  # a loss on the last state only
    _, carried = module.rnn_backward(dh, x, h0, states, w_xh, w_hh)
    # One step back from h_3 to h_2, and on to h_1, by the formula in the docstring.
    np.testing.assert_allclose(carried[0], (dh[-1] * (1 - states[-1] ** 2)) @ w_hh, rtol=1e-12)
    np.testing.assert_allclose(carried[1], (carried[0] * (1 - states[-2] ** 2)) @ w_hh, rtol=1e-12)


# Small settings: a few dozen steps of a small model (a second or two), enough to see it
# learn; the real run's numbers are measured by hand (see the example's docstring).
SMALL_LSTM = {
    "batch_size": 8,
    "seq_len": 16,
    "embedding": 8,
    "hidden": 16,
    "sample_length": 20,
    "verbose": False,
}


def test_lstm_char_model_learns_a_periodic_text(tmp_path):
    path = tmp_path / "abcd.txt"
    path.write_text("abcd" * 500)
    result = load_example("lstm_char_model").main(path, steps=60, lr=2e-2, **SMALL_LSTM)
    # 2 bits a character for a uniform guess among 4; 0.02-0.16 after 60 steps.
    assert result["valid_bpc"] < 0.5
    # The prompt "def " has characters the text has not: the sample starts at its start.
    assert result["sample"] == "abcd" * 5 + "a"


def test_lstm_char_model_on_the_standard_library(capsys):
    module = load_example("lstm_char_model")
    text, vocab, ids = module.load_text()
    assert "".join(vocab[i] for i in ids[:100]) == text[:100] and len(text) > 10_000
    result = module.main(steps=20, **{**SMALL_LSTM, "hidden": 32, "verbose": True})
    out = capsys.readouterr().out
    assert "validation:" in out and "bits/char" in out and "--- sample ---" in out
    # After 20 steps the model is still near the characters' frequencies; a uniform
    # guess among the ~90 characters costs log2(90) = 6.5 bits.
    assert result["valid_bpc"] < np.log2(len(vocab))
    assert result["sample"].startswith("def ") and len(result["sample"]) == 24
    assert set(result["sample"]) <= set(vocab)


def test_lstm_char_model_carries_the_state_between_chunks():
    module = load_example("lstm_char_model")
    model = module.CharModel(5, embedding=3, hidden=4)
    ids = np.random.default_rng(0).integers(0, 5, size=(12, 2))
    whole, _ = model(cr.tensor(ids))
    first, state = model(cr.tensor(ids[:7]))
    second, _ = model(cr.tensor(ids[7:]), module.detach(state))
    # Carrying the state makes two chunks read as one sequence.
    np.testing.assert_allclose(
        np.concatenate([first.numpy(), second.numpy()]), whole.numpy(), rtol=1e-5, atol=1e-6
    )
    assert all(s.grad_fn is None for s in module.detach(state))


def test_transformer_reversal_learns_short_sequences(capsys):
    result = load_example("transformer_reversal").main(steps=60, length=8, vocab=10, test_size=500)
    # 1.0 for seeds 0-3 (the model of the full run, on shorter sequences and fewer steps).
    assert result["token_accuracy"] >= 0.99
    assert "reversed correctly" in capsys.readouterr().out


def test_transformer_reversal_targets_are_reversed_inputs():
    module = load_example("transformer_reversal")
    x, y = module.batch(np.random.default_rng(0), 3, 5, 7)
    np.testing.assert_array_equal(y, x[:, ::-1])
    model = module.Reverser(7, 5, d_model=8, nhead=2, layers=1, dim_feedforward=16)
    assert model(cr.tensor(x)).shape == (3, 5, 7)
    assert module.predict(model, x).shape == (3, 5)


@pytest.mark.slow
def test_transformer_reversal_reaches_the_target_accuracy():
    """Issue #18's target: >= 99% of held-out tokens (seeds 0-2 gave 100%, 200 steps on
    sequences of 16 tokens out of 16). Seconds on 2 quiet cores; speed is not asserted."""
    assert load_example("transformer_reversal").main(verbose=False)["token_accuracy"] >= 0.99
