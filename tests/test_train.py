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
from chainrule.train import (
    NonFiniteLossError,
    TrainConfig,
    _eval_batch,
    build_model,
    evaluate,
    evaluate_checkpoint,
    load_model,
    train,
)

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
    code, stdout, _ = run_cli(capsys, "train", "--resume", half / "checkpoint.npz", "--epochs", 4)
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
    assert_same_parameters(
        load(full / "checkpoint.npz")["model"], load(cut / "checkpoint.npz")["model"]
    )


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        run_cli(capsys, "train", *SMALL, "--optimizer", "sgd", "--epochs", 1, "--out", out)[0] == 0
    )
    checkpoint = out / "checkpoint.npz"
    good, metrics = checkpoint.read_bytes(), (out / "metrics.json").read_bytes()

    code, _, stderr = run_cli(
        capsys, "train", "--resume", checkpoint, "--epochs", 3, "--lr", "1e30"
    )
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
    code, _, stderr = run_cli(capsys, "train", "--resume", out / "checkpoint.npz", "--hidden", "64")
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
    for flag in (
        "--dataset",
        "--hidden",
        "--activation",
        "--loss",
        "--optimizer",
        "--lr",
        "--batch-size",
        "--epochs",
        "--seed",
        "--out",
        "--resume",
        "--weight-decay",
        "--overwrite",
    ):
        assert flag in stdout


def test_python_dash_m_chainrule(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    result = subprocess.run(
        [sys.executable, "-m", "chainrule", "--help"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0
    assert "train" in result.stdout and "evaluate" in result.stdout


@pytest.mark.parametrize(
    "loss, activation", [("mse", "tanh"), ("hinge", "leaky_relu"), ("cross_entropy", "sigmoid")]
)
def test_losses_and_activations_train(tmp_path, loss, activation):
    config = TrainConfig(
        dataset="digits",
        hidden="32,16",
        activation=activation,
        loss=loss,
        epochs=2,
        batch_size=64,
        out=str(tmp_path),
    )
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
    assert TrainConfig.from_dict(TrainConfig(hidden=(3, 2)).to_dict()) == TrainConfig(hidden=(3, 2))
    for bad in (
        {"activation": "gelu"},
        {"loss": "l1"},
        {"lr": -1.0},
        {"hidden": (0,)},
        {"batch_size": 0},
        {"hidden": ""},
        {"seed": -1},
        {"lr": float("nan")},
        {"epochs": 1.5},
        {"dataset": "cifar"},
        {"weight_decay": float("inf")},
    ):
        with pytest.raises(ValueError, match="TrainConfig"):
            TrainConfig(**bad)


@pytest.mark.parametrize(
    "optimizer, lr", [("momentum", 0.05), ("adagrad", 0.05), ("rmsprop", 1e-3), ("adam", 1e-3)]
)
def test_each_optimizer_reaches_95_percent_on_digits(tmp_path, optimizer, lr):
    config = TrainConfig(
        dataset="digits",
        hidden=(128,),
        optimizer=optimizer,
        lr=lr,
        epochs=10,
        batch_size=32,
        seed=0,
        out=str(tmp_path),
    )
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


# ------------------------------------------------------------------ convolutional networks
# digits are 1x8x8 images: two tiny conv blocks (8 -> 4 -> 2 pixels) train in seconds.
CNN = [
    "--model",
    "cnn",
    "--dataset",
    "digits",
    "--channels",
    "4,8",
    "--kernel",
    "3",
    "--hidden",
    "16",
    "--batch-size",
    "64",
    "--lr",
    "0.03",
]


def test_cnn_trains_checkpoints_resumes_and_evaluates(tmp_path, capsys):
    full, half = tmp_path / "full", tmp_path / "half"
    code, stdout, _ = run_cli(capsys, "train", *CNN, "--epochs", 2, "--out", full)
    assert code == 0
    assert "1x8x8-conv3x3:4-pool-conv3x3:8-pool-16-10 relu, augmented" in stdout
    state = load(full / "checkpoint.npz")
    assert state["config"]["model"] == "cnn" and state["config"]["channels"] == [4, 8]
    assert state["config"]["kernel"] == 3 and state["config"]["augment"] is True
    assert {k: v.shape for k, v in state["model"].items()} == {
        "0.weight": (4, 1, 3, 3),
        "0.bias": (4,),
        "3.weight": (8, 4, 3, 3),
        "3.bias": (8,),
        "7.weight": (16, 8 * 2 * 2),
        "7.bias": (16,),
        "9.weight": (10, 16),
        "9.bias": (10,),
    }
    # Chance is 0.1; two epochs of this tiny network get well past it (0.67 to 0.69 seen).
    assert state["history"][-1]["test_accuracy"] > 0.4

    assert run_cli(capsys, "train", *CNN, "--epochs", 1, "--out", half)[0] == 0
    code, stdout, _ = run_cli(capsys, "train", "--resume", half / "checkpoint.npz", "--epochs", 2)
    assert code == 0 and "resuming" in stdout
    resumed = load(half / "checkpoint.npz")
    assert_same_parameters(state["model"], resumed["model"])  # the augmentation included
    assert state["loader"] == resumed["loader"]
    assert without_timings(state["history"]) == without_timings(resumed["history"])

    scores = evaluate_checkpoint(full / "checkpoint.npz")
    assert scores["accuracy"] == state["history"][-1]["test_accuracy"]
    assert scores["loss"] == pytest.approx(state["history"][-1]["test_loss"], rel=1e-5)
    code, stdout, _ = run_cli(capsys, "evaluate", full / "checkpoint.npz", "--json")
    assert code == 0 and json.loads(stdout)["accuracy"] == scores["accuracy"]
    model, _ = load_model(full / "checkpoint.npz")
    assert isinstance(model[0], cr.nn.Conv2d) and isinstance(model[2], cr.nn.MaxPool2d)


def test_cnn_augmentation_changes_the_batches_and_can_be_turned_off(tmp_path):
    def run(augment, name):
        config = TrainConfig(
            model="cnn",
            dataset="digits",
            channels=(4,),
            kernel=3,
            hidden=(8,),
            epochs=1,
            augment=augment,
            out=str(tmp_path / name),
        )
        return train(config)

    on, off = run(True, "on"), run(False, "off")
    assert off.config.augment is False and on.config.augment is True
    # Same seed, same initialisation and order: only the shifted images differ.
    assert not np.array_equal(on.model[0].weight.data, off.model[0].weight.data)
    assert load(tmp_path / "off" / "checkpoint.npz")["config"]["augment"] is False


def test_cnn_reads_downloaded_mnist_files_from_data_dir(tmp_path, capsys):
    # Tiny IDX files in the real format: 40 training and 20 test images of 28x28 pixels.
    rng = np.random.default_rng(0)
    data = tmp_path / "mnist"
    data.mkdir()
    for prefix, count in (("train", 40), ("t10k", 20)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        (data / f"{prefix}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 8, 3]) + np.array([count, 28, 28], ">u4").tobytes() + images.tobytes()
        )
        (data / f"{prefix}-labels-idx1-ubyte").write_bytes(
            bytes([0, 0, 8, 1]) + np.array([count], ">u4").tobytes() + labels.tobytes()
        )
    out = tmp_path / "run"
    code, stdout, _ = run_cli(
        capsys,
        "train",
        "--model",
        "cnn",
        "--dataset",
        "mnist",
        "--data-dir",
        data,
        "--channels",
        "2",
        "--hidden",
        "8",
        "--epochs",
        1,
        "--out",
        out,
    )
    assert code == 0 and "40 train / 20 test (official split)" in stdout
    state = load(out / "checkpoint.npz")
    assert state["config"]["data_dir"] == str(data)
    assert state["model"]["0.weight"].shape == (2, 1, 5, 5)
    assert evaluate_checkpoint(out / "checkpoint.npz")["num_samples"] == 20


def test_cnn_memory_estimate_counts_the_conv_activations():
    from chainrule.train import estimate_memory

    def estimate(**cnn):
        config = TrainConfig(model="cnn", dataset="mnist", hidden=(16,), **cnn)
        return estimate_memory(config, 784, 10, 4000, 1000)

    # Wider conv layers and bigger batches need more.
    assert estimate(channels=(8, 16), batch_size=512) < estimate(channels=(64, 128), batch_size=512)
    assert estimate(channels=(64, 128), batch_size=32) < estimate(
        channels=(64, 128), batch_size=512
    )


def test_cnn_memory_estimate_bounds_a_measured_step_closely():
    # The arrays of a training step (tracemalloc's peak) fit in the estimate, and take more
    # than 0.4 of it: the im2col columns are made a block of images at a time, so counting
    # them whole (as the estimate once did) put this step at 0.12 of it.
    import tracemalloc

    from chainrule.train import build_optimizer, estimate_memory

    config = TrainConfig(
        model="cnn", dataset="mnist", channels=(16, 32), hidden=(32,), batch_size=128
    )
    model = build_model(config, 784, 10, rng=0)
    optimizer = build_optimizer(config, model.parameters())
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((128, 1, 28, 28)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 10, 128))

    def step():
        optimizer.zero_grad()
        cr.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    step()  # the optimizer's state is made on the first step: it is counted as kept
    tracemalloc.start()
    try:
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 100 test images: scoring them needs less than a step, so the step sets the estimate.
    needed = estimate_memory(config, 784, 10, 4000, 100)
    assert 0.4 * needed < peak <= needed


def test_evaluate_scores_conv_layers_in_smaller_batches():
    config = TrainConfig(model="cnn", dataset="digits", channels=(64,), kernel=5, hidden=(8,))
    model = build_model(config, 64, 10, rng=0)
    ds = cr.data.load_dataset("digits", flatten=False, standardize="channel")
    batched = evaluate(model, ds.x_test, ds.y_test)
    in_sevens = evaluate(model, ds.x_test, ds.y_test, batch_size=7)
    assert batched["loss"] == pytest.approx(in_sevens["loss"], rel=1e-5)
    np.testing.assert_array_equal(batched["confusion"], in_sevens["confusion"])


def test_cnn_config_defaults_and_round_trip():
    config = TrainConfig(model="cnn", dataset="mnist")
    assert (config.channels, config.kernel, config.augment, config.hidden) == (
        (32, 64),
        5,
        True,
        (256,),
    )
    assert TrainConfig().hidden == (1024,) and TrainConfig().channels is None
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig(model="cnn", dataset="digits", channels=" 3 , 5 ").channels == (3, 5)


def _mpiexec():
    import shutil

    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


@pytest.mark.skipif(_mpiexec() is None, reason="needs mpiexec")
def test_cnn_under_mpiexec_takes_the_single_process_steps(tmp_path):
    pytest.importorskip("mpi4py")
    # 33: the ranks get 17 and 16 images of each augmented batch.
    args = ["-m", "chainrule", "train", *CNN, "--epochs", "1", "--batch-size", "33"]
    env = {**os.environ, "PYTHONPATH": SRC}
    single = subprocess.run(
        [sys.executable, *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert single.returncode == 0, single.stderr
    double = subprocess.run(
        [_mpiexec(), "-n", "2", sys.executable, *args, "--out", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert double.returncode == 0, double.stderr
    one = load(tmp_path / "one" / "checkpoint.npz")["model"]
    two = load(tmp_path / "two" / "checkpoint.npz")["model"]
    for name in one:
        # float32: only the order of the gradient sums differs between the two runs.
        np.testing.assert_allclose(two[name], one[name], atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_cnn_on_mnist_reaches_97_percent_in_5_epochs(tmp_path, capsys):
    # The target for the command's defaults; seeds 0 to 2 gave 0.973 to 0.974,
    # in about 40 s of CPU time (the wall time depends on how busy the machine is).
    code, _, _ = run_cli(
        capsys,
        "train",
        "--model",
        "cnn",
        "--dataset",
        "mnist",
        "--epochs",
        5,
        "--out",
        tmp_path / "run",
    )
    assert code == 0
    accuracy = json.loads((tmp_path / "run" / "metrics.json").read_text())["final"]["test_accuracy"]
    print(f"cnn on mnist: test accuracy {accuracy:.4f}")
    assert accuracy >= 0.97
