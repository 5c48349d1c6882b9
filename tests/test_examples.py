"""Each script under examples/ runs, with small settings, and reports sensible numbers."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_covered():
    tested = {"logistic_regression", "three_layer_network", "l_layer_squared_loss",
              "minibatch_vs_per_sample", "softmax_classifier", "svm_classifier"}
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
    assert [(dw.shape, db.shape) for dw, db in grads] == [(w.shape, b.shape)
                                                         for w, b in params]
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
