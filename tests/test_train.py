"""Tests for the trainer (chainrule.train) and the ``chainrule`` command line."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.cli import main
from chainrule.serialization import load, save
from chainrule.train import (NonFiniteLossError, TrainConfig, _eval_batch, build_model, evaluate,
                             evaluate_checkpoint, load_model, train)

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
# Small enough to take well under a second per epoch.
SMALL = ["--dataset", "digits", "--hidden", "32", "--batch-size", "64"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_same_parameters(a, b):
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype
        assert a[name].tobytes() == b[name].tobytes(), name  # bit for bit


def without_timings(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_train_writes_checkpoint_metrics_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "train", *SMALL, "--epochs", 2, "--out", out)
    assert code == 0
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "curves.png", "metrics.json"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    epoch_lines = [line for line in stdout.splitlines() if line.startswith("epoch")]
    assert len(epoch_lines) == 2
    for line in epoch_lines:
        assert "train loss" in line and "train acc" in line and "test acc" in line

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "digits"
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    assert metrics["config"]["hidden"] == [32]
    final = metrics["final"]
    assert set(final) >= {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}
    assert final["test_accuracy"] > 0.8
    assert f"test accuracy {final['test_accuracy']:.4f}" in stdout

    state = load(out / "checkpoint.npz")
    assert state["epoch"] == 2 and state["kind"] == "chainrule.train"
    assert set(state["model"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert state["model"]["0.weight"].shape == (32, 64)
    group = state["optimizer"]["param_groups"][0]
    assert group["lr"] == 3e-3 and group["weight_decay"] == 0.3
    assert state["loader"]["epoch"] == 2 and "rng_state" in state["loader"]
    assert state["history"] == metrics["epochs"]


def test_evaluate_reports_the_training_test_accuracy(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *SMALL, "--epochs", 1, "--out", out)[0] == 0
    final = json.loads((out / "metrics.json").read_text())["final"]

    code, stdout, _ = run_cli(capsys, "evaluate", out / "checkpoint.npz")
    assert code == 0
    assert f"accuracy {final['test_accuracy']:.4f}" in stdout
    assert "confusion matrix" in stdout

    code, stdout, _ = run_cli(capsys, "evaluate", out / "checkpoint.npz", "--json")
    scores = json.loads(stdout)
    assert scores["accuracy"] == pytest.approx(final["test_accuracy"])
    assert scores["loss"] == pytest.approx(final["test_loss"], rel=1e-5)
    confusion = np.array(scores["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == scores["num_samples"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(scores["accuracy"])

    train_scores = evaluate_checkpoint(out / "checkpoint.npz", split="train")
    assert train_scores["num_samples"] > scores["num_samples"]


@pytest.mark.parametrize("optimizer", ["adamw", "momentum"])
def test_resume_gives_bit_identical_parameters(tmp_path, capsys, optimizer):
    full, half = tmp_path / "full", tmp_path / "half"
    args = [*SMALL, "--optimizer", optimizer, "--seed", 3]
    assert run_cli(capsys, "train", *args, "--epochs", 4, "--out", full)[0] == 0
    assert run_cli(capsys, "train", *args, "--epochs", 2, "--out", half)[0] == 0
    code, stdout, _ = run_cli(capsys, "train", "--resume", half / "checkpoint.npz",
                              "--epochs", 4)
    assert code == 0
    assert "resuming" in stdout and "epoch   3/4" in stdout and "epoch   1/4" not in stdout

    a, b = load(full / "checkpoint.npz"), load(half / "checkpoint.npz")
    assert b["epoch"] == 4
    assert_same_parameters(a["model"], b["model"])
    for index, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            np.testing.assert_array_equal(value, b["optimizer"]["state"][index][name])
    assert a["loader"] == b["loader"]
    assert without_timings(a["history"]) == without_timings(b["history"])


def test_resume_after_an_interrupted_epoch(tmp_path, capsys, monkeypatch):
    full, cut = tmp_path / "full", tmp_path / "cut"
    args = [*SMALL, "--epochs", 3]
    assert run_cli(capsys, "train", *args, "--out", full)[0] == 0

    # Ctrl-C in the middle of epoch 2: the checkpoint of epoch 1 is what remains.
    steps_per_epoch = -(-len(cr.data.load_dataset("digits").y_train) // 64)
    real_step, calls = optim.AdamW.step, []

    def interrupted_step(self, closure=None):
        calls.append(1)
        if len(calls) == steps_per_epoch + 5:
            raise KeyboardInterrupt
        return real_step(self, closure)

    monkeypatch.setattr(optim.AdamW, "step", interrupted_step)
    code, _, stderr = run_cli(capsys, "train", *args, "--out", cut)
    assert code == 130 and "--resume" in stderr
    assert load(cut / "checkpoint.npz")["epoch"] == 1
    monkeypatch.undo()

    assert run_cli(capsys, "train", "--resume", cut / "checkpoint.npz")[0] == 0
    assert_same_parameters(load(full / "checkpoint.npz")["model"],
                           load(cut / "checkpoint.npz")["model"])


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *SMALL, "--optimizer", "sgd", "--epochs", 1,
                   "--out", out)[0] == 0
    checkpoint = out / "checkpoint.npz"
    good, metrics = checkpoint.read_bytes(), (out / "metrics.json").read_bytes()

    code, _, stderr = run_cli(capsys, "train", "--resume", checkpoint, "--epochs", 3,
                              "--lr", "1e30")
    assert code == 1
    assert "non-finite" in stderr and "epoch 2, step" in stderr
    assert str(checkpoint) in stderr
    assert checkpoint.read_bytes() == good
    assert (out / "metrics.json").read_bytes() == metrics
    assert load(checkpoint)["epoch"] == 1
    assert [f for f in os.listdir(out) if f.startswith(".")] == []


def test_non_finite_loss_in_the_first_epoch_writes_no_checkpoint(tmp_path):
    config = TrainConfig(hidden=(32,), optimizer="sgd", lr=1e30, epochs=2, out=str(tmp_path))
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step \d+") as info:
        train(config)
    assert info.value.epoch == 1 and info.value.step >= 1
    assert info.value.checkpoint is None
    assert not (tmp_path / "checkpoint.npz").exists()


def test_resume_refuses_changed_architecture(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *SMALL, "--epochs", 1, "--out", out)[0] == 0
    code, _, stderr = run_cli(capsys, "train", "--resume", out / "checkpoint.npz",
                              "--hidden", "64")
    assert code == 2 and "hidden" in stderr


def test_resuming_a_copied_checkpoint_writes_next_to_the_copy(tmp_path, capsys):
    # The saved --out is not where a copy continues: that would overwrite the original run.
    first = tmp_path / "first"
    assert run_cli(capsys, "train", *SMALL, "--epochs", 1, "--out", first)[0] == 0
    original = {name: (first / name).read_bytes() for name in os.listdir(first)}
    (tmp_path / "copy").mkdir()
    copy = tmp_path / "copy" / "backup.npz"
    copy.write_bytes(original["checkpoint.npz"])
    code, stdout, _ = run_cli(capsys, "train", "--resume", copy, "--epochs", 2)
    assert code == 0 and f"wrote {tmp_path / 'copy'}" in stdout
    assert load(tmp_path / "copy" / "checkpoint.npz")["epoch"] == 2
    assert {name: (first / name).read_bytes() for name in os.listdir(first)} == original


def test_evaluate_scores_wide_layers_in_smaller_batches():
    ds = cr.data.load_dataset("iris")
    model = build_model(TrainConfig(hidden=(1_000_000,)), 4, 3, rng=0)
    widest = evaluate(model, ds.x_test, ds.y_test)
    in_sevens = evaluate(model, ds.x_test, ds.y_test, batch_size=7)
    assert _eval_batch(1_000_000) < len(ds.y_test) < 1024
    assert widest["loss"] == pytest.approx(in_sevens["loss"], rel=1e-6)
    np.testing.assert_array_equal(widest["confusion"], in_sevens["confusion"])


def test_bad_checkpoints_are_reported_with_their_name(tmp_path, capsys):
    missing = tmp_path / "missing.npz"
    code, _, stderr = run_cli(capsys, "evaluate", missing)
    assert code == 1 and str(missing) in stderr

    weights_only = tmp_path / "weights.npz"
    save({"w": np.zeros(2)}, weights_only)
    code, _, stderr = run_cli(capsys, "train", "--resume", weights_only)
    assert code == 1 and "not a training checkpoint" in stderr


def test_invalid_settings_exit_with_status_2(capsys):
    assert run_cli(capsys, "train", "--hidden", "12,x")[0] == 2
    with pytest.raises(SystemExit) as info:
        main(["train", "--optimizer", "newton"])
    assert info.value.code == 2


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    stdout = capsys.readouterr().out
    for command in ("train", "evaluate"):
        assert command in stdout
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    stdout = capsys.readouterr().out
    for flag in ("--dataset", "--hidden", "--activation", "--loss", "--optimizer", "--lr",
                 "--batch-size", "--epochs", "--seed", "--out", "--resume", "--weight-decay",
                 "--overwrite"):
        assert flag in stdout


def test_python_dash_m_chainrule(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    result = subprocess.run([sys.executable, "-m", "chainrule", "--help"], env=env,
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0
    assert "train" in result.stdout and "evaluate" in result.stdout


@pytest.mark.parametrize("loss, activation", [("mse", "tanh"), ("hinge", "leaky_relu"),
                                              ("cross_entropy", "sigmoid")])
def test_losses_and_activations_train(tmp_path, loss, activation):
    config = TrainConfig(dataset="digits", hidden="32,16", activation=activation, loss=loss,
                         epochs=2, batch_size=64, out=str(tmp_path))
    result = train(config)
    assert result.test_accuracy > 0.5
    assert np.isfinite(result.test_loss)
    model, _ = load_model(result.checkpoint)
    assert len(list(model.parameters())) == 6


def test_library_train_returns_the_model_and_shows_progress(tmp_path, capsys):
    lines = []
    config = TrainConfig(dataset="iris", hidden=(8,), epochs=2, out=str(tmp_path))
    result = train(config, log=lines.append, progress=True)
    assert result.epoch == 2 and len(result.history) == 2
    assert any(line.startswith("epoch   2/2") for line in lines)
    ds = cr.data.load_dataset("iris")
    scores = evaluate(result.model, ds.x_test, ds.y_test)
    assert scores["accuracy"] == result.test_accuracy


def test_config_validation():
    assert TrainConfig(hidden=64).hidden == (64,)
    assert TrainConfig(optimizer="sgd").learning_rate == 0.1
    assert TrainConfig(optimizer="sgd").decay == 0.0
    assert TrainConfig(optimizer="adamw", weight_decay=0.0).decay == 0.0
    assert TrainConfig.from_dict(TrainConfig(hidden=(3, 2)).to_dict()) == TrainConfig(
        hidden=(3, 2))
    for bad in ({"activation": "gelu"}, {"loss": "l1"}, {"lr": -1.0}, {"hidden": (0,)},
                {"batch_size": 0}, {"hidden": ""}, {"seed": -1}, {"lr": float("nan")},
                {"epochs": 1.5}, {"dataset": "cifar"}, {"weight_decay": float("inf")}):
        with pytest.raises(ValueError, match="TrainConfig"):
            TrainConfig(**bad)


@pytest.mark.parametrize("optimizer, lr", [("momentum", 0.05), ("adagrad", 0.05),
                                           ("rmsprop", 1e-3), ("adam", 1e-3)])
def test_each_optimizer_reaches_95_percent_on_digits(tmp_path, optimizer, lr):
    config = TrainConfig(dataset="digits", hidden=(128,), optimizer=optimizer, lr=lr,
                         epochs=10, batch_size=32, seed=0, out=str(tmp_path))
    assert train(config).test_accuracy >= 0.95


@pytest.mark.slow
def test_default_train_reaches_97_percent(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    code, stdout, _ = run_cli(capsys, "train")
    seconds = time.perf_counter() - started
    assert code == 0
    metrics = json.loads((tmp_path / "runs" / "digits" / "metrics.json").read_text())
    accuracy = metrics["final"]["test_accuracy"]
    print(f"default train: test accuracy {accuracy:.4f} in {seconds:.1f} s")
    assert accuracy >= 0.97


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ("chainrule.train", "chainrule.cli"):
        module = importlib.import_module(name)
        assert doctest.testmod(module).failed == 0
