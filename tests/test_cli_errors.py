"""Hostile input to ``chainrule train`` and ``evaluate``: every failure is one line on
stderr naming the problem and a non-zero exit, found before training when it can be,
and no file that held a run is lost."""

import errno
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import chainrule.train as train_module
from chainrule.cli import main
from chainrule.errors import CheckpointError
from chainrule.serialization import load, save, write_atomically
from chainrule.train import TrainConfig, available_memory, estimate_memory, load_model, train

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
TINY = ["--dataset", "iris", "--hidden", "8", "--batch-size", "32"]


def fails(capsys, *argv):
    """Run the command line; it must fail with one line on stderr. Returns that line."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse refuses before any command runs
        code = exc.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code not in (0, None), out + err
    assert len(lines) == 1, err
    assert lines[0].startswith("chainrule"), err
    assert "Traceback" not in err
    return code, lines[0], out


def files_under(path):
    return sorted(
        os.path.relpath(os.path.join(d, f), path) for d, _, names in os.walk(path) for f in names
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One finished iris run with each kind of optimizer state: AdamW and SGD momentum."""
    root = tmp_path_factory.mktemp("runs")
    paths = {}
    for optimizer in ("adamw", "momentum"):
        config = TrainConfig(
            dataset="iris", hidden=(8,), optimizer=optimizer, epochs=1, out=str(root / optimizer)
        )
        paths[optimizer] = train(config).checkpoint
    return paths


def crafted(runs, tmp_path, change, name="crafted.npz"):
    """A copy of the AdamW checkpoint changed by ``change(state)``, with a valid checksum."""
    state = load(runs["adamw"])
    change(state)
    path = tmp_path / name
    save(state, path)
    return path


# ------------------------------------------------------------------ flags (item 10)


@pytest.mark.parametrize(
    "argv, names",
    [
        (["--seed", "-1"], "--seed"),
        (["--hidden", ""], "--hidden"),
        (["--hidden", "16,,8"], "--hidden"),
        (["--hidden", "0"], "--hidden"),
        (["--hidden", "1e3"], "--hidden"),
        (["--out", ""], "--out"),
        (["--out", "run.npz"], "--out"),
        (["--epochs", "-1"], "--epochs"),
        (["--epochs", "99999999999999999999"], "--epochs"),
        (["--epochs", "1e3"], "--epochs"),
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "-4"], "--batch-size"),
        (["--batch-size", "1.5"], "--batch-size"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "inf"], "--lr"),
        (["--lr", "0"], "--lr"),
        (["--lr", "1e-400"], "--lr"),
        (["--weight-decay", "inf"], "--weight-decay"),
        (["--weight-decay", "-1"], "--weight-decay"),
        (["--dataset", "imagenet"], "--dataset"),
        (["--optimizer", "newton"], "--optimizer"),
        (["--activation", "gelu"], "--activation"),
        (["--loss", "l1"], "--loss"),
        (["--resume", ""], "--resume"),
    ],
)
def test_bad_flags_are_one_line_naming_the_option(tmp_path, capsys, monkeypatch, argv, names):
    monkeypatch.chdir(tmp_path)
    code, line, out = fails(capsys, "train", *TINY, "--epochs", 1, *argv)
    assert code == 2
    assert names in line
    assert "epoch" not in out and os.listdir(tmp_path) == []  # refused before training


@pytest.mark.parametrize("argv", [[], ["fly"], ["evaluate"], ["train", "--hiden", "8"]])
def test_usage_errors_are_one_line(capsys, argv):
    code, line, _ = fails(capsys, *argv)
    assert code == 2 and "--help" in line


def test_an_empty_checkpoint_path_is_named(capsys):
    code, line, _ = fails(capsys, "evaluate", "")
    assert code == 2 and "CHECKPOINT" in line


# ------------------------------------------------------------------ output directory


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    _, line, out = fails(capsys, "train", *TINY, "--out", existing)
    assert str(existing) in line and "not a directory" in line
    _, line, out = fails(capsys, "train", *TINY, "--out", existing / "run")
    assert str(existing / "run") in line and "Not a directory" in line
    assert "epoch" not in out
    assert existing.read_text() == "keep me"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_unwritable_out_is_refused_before_training(capsys):
    # /proc refuses new files even to root, for whom permission bits do not.
    code, line, out = fails(capsys, "train", *TINY, "--out", "/proc/self")
    assert code == 1 and "/proc/self" in line and "cannot write" in line
    assert "epoch" not in out
    code, line, _ = fails(capsys, "train", *TINY, "--out", "/proc/chainrule-run")
    assert code == 1 and "cannot create output directory /proc/chainrule-run" in line


def test_a_second_run_does_not_overwrite_the_first(tmp_path, capsys):  # item 2
    out = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}

    code, line, stdout = fails(capsys, "train", *TINY, "--epochs", 2, "--out", out)
    assert code == 1 and "already holds a training run" in line
    assert f"--resume {out / 'checkpoint.npz'}" in line and "--overwrite" in line
    assert "epoch" not in stdout
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before

    # Resuming another run into this directory would overwrite it just the same.
    other = tmp_path / "other"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(other)]) == 0
    fails(capsys, "train", "--resume", other / "checkpoint.npz", "--epochs", 2, "--out", out)
    assert load(out / "checkpoint.npz")["epoch"] == 1

    assert main(["train", *TINY, "--epochs", "2", "--out", str(out), "--overwrite"]) == 0
    assert load(out / "checkpoint.npz")["epoch"] == 2
    # Resuming a run in its own directory is what --resume is for.
    assert main(["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "3"]) == 0
    assert load(out / "checkpoint.npz")["epoch"] == 3


def enospc(f):
    f.write(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("failing", ["checkpoint.npz", "metrics.json"])
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(
    tmp_path, capsys, monkeypatch, failing
):
    out = tmp_path / "run"
    real_save, real_write = train_module.save, train_module.write_atomically
    epochs_written = []

    def save(obj, path):
        epochs_written.append(obj["epoch"])
        if failing == "checkpoint.npz" and obj["epoch"] == 2:
            return write_atomically(path, enospc)
        return real_save(obj, path)

    def write(path, writer):
        if os.path.basename(path) == failing and epochs_written[-1] == 2:
            return real_write(path, enospc)
        return real_write(path, writer)

    monkeypatch.setattr(train_module, "save", save)
    monkeypatch.setattr(train_module, "write_atomically", write)
    code, line, _ = fails(capsys, "train", *TINY, "--epochs", 3, "--out", out)
    assert code == 1
    assert f"cannot write {out / failing} (No space left on device)" in line
    assert epochs_written == [1, 2]  # stopped at the failure
    saved = load(out / "checkpoint.npz")["epoch"]
    if failing == "checkpoint.npz":
        assert saved == 1 and f"{out / 'checkpoint.npz'} is left unchanged" in line
    else:
        assert saved == 2 and "checkpoint of epoch 2 was saved" in line
    assert [name for name in os.listdir(out) if name.startswith(".")] == []


# ------------------------------------------------------------------ resuming (items 10, 11)


def test_resume_with_no_epochs_left_says_so(runs, tmp_path, capsys):
    path = tmp_path / "done.npz"
    shutil.copy(runs["adamw"], path)
    before = path.read_bytes()
    for extra in (["--epochs", 1], ["--epochs", 0], []):  # the run has 1 epoch of 1
        code, line, _ = fails(capsys, "train", "--resume", path, *extra)
        assert code == 2 and "--epochs must be above the 1 epochs already trained" in line
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["done.npz"]


def test_resume_refuses_a_checkpoint_with_non_finite_parameters(runs, tmp_path, capsys):
    path = crafted(runs, tmp_path, lambda s: s["model"]["2.bias"].__setitem__(0, np.nan))
    code, line, _ = fails(capsys, "train", "--resume", path, "--epochs", 2)
    assert code == 1 and "model['2.bias'] holds non-finite values" in line
    assert "last good" not in line


def test_divergence_after_a_non_finite_checkpoint_is_not_called_good(
    runs, tmp_path, capsys
):  # item 11
    def poison(state):
        state["optimizer"]["state"][0]["exp_avg_sq"][0, 0] = np.inf

    path = crafted(runs, tmp_path, poison)
    before = path.read_bytes()
    code, line, _ = fails(capsys, "train", "--resume", path, "--epochs", 3, "--lr", "1e30")
    assert code == 1 and "non-finite" in line
    assert "last good" not in line
    assert (
        f"the checkpoint it resumed from, {path}, already held non-finite values in "
        f"optimizer['state'][0]['exp_avg_sq']"
    ) in line
    assert path.read_bytes() == before


# ------------------------------------------------------------------ checkpoints (item 7)


def sgd_state_into_adamw(runs):
    def change(state):
        state["optimizer"] = load(runs["momentum"])["optimizer"]

    return change


BAD_CHECKPOINTS = {
    "config from a newer version": (
        lambda s: s["config"].update(dropout=0.5),
        "config['dropout'] is not a setting",
    ),
    "field from a newer version": (lambda s: s.update(ema={}), "field 'ema' is not one"),
    "no optimizer": (lambda s: s.pop("optimizer"), "optimizer is missing"),
    "no model": (lambda s: s.pop("model"), "model is missing"),
    "wrong shape": (
        lambda s: s["model"].update({"0.weight": np.zeros((9, 4), np.float32)}),
        "model['0.weight'] has shape (9, 4)",
    ),
    "renamed key": (
        lambda s: s["model"].update(w=s["model"].pop("0.weight")),
        "model['w'] is not a parameter",
    ),
    "missing key": (lambda s: s["model"].pop("2.bias"), "model['2.bias'] is missing"),
    "integer weights": (
        lambda s: s["model"].update({"0.bias": np.zeros(8, np.int64)}),
        "model['0.bias'] must be a floating-point array",
    ),
    "model not a dict": (lambda s: s.update(model=[1, 2]), "model must be a dict"),
    "config not a dict": (lambda s: s.update(config="fast"), "config must be a dict"),
    "bad config value": (lambda s: s["config"].update(lr="fast"), "config['lr']"),
    "unknown dataset": (lambda s: s["config"].update(dataset="cifar"), "config['dataset']"),
    "huge layer": (lambda s: s["config"].update(hidden=[10**12]), "model['0.weight']"),
    "other dataset": (lambda s: s["data"].update(num_features=7), "model['0.weight']"),
    "wrong dataset name": (lambda s: s["data"].update(name="digits"), "data['name']"),
    "SGD state into AdamW": (None, "optimizer['param_groups'][0] has the options"),
    "missing moment": (
        lambda s: s["optimizer"]["state"][1].pop("exp_avg"),
        "optimizer['state'][1] holds",
    ),
    "negative step": (
        lambda s: s["optimizer"]["state"][0].update(step=-5),
        "optimizer['state'][0]['step'] must be an integer >= 0",
    ),
    "moment of the wrong shape": (
        lambda s: s["optimizer"]["state"][0].update(exp_avg=np.zeros(3, np.float32)),
        "optimizer does not fit",
    ),
    "bad beta": (
        lambda s: s["optimizer"]["param_groups"][0].update(betas=[2.0, 0.9]),
        "optimizer does not fit",
    ),
    "shuffled params": (
        lambda s: s["optimizer"]["param_groups"][0].update(params=[1, 0, 2, 3]),
        "optimizer['param_groups'][0]['params']",
    ),
    "bad loader": (lambda s: s["loader"].update(rng_state={"a": 1}), "loader does not fit"),
    "loader of another batch size": (
        lambda s: s["loader"].update(batch_size=7),
        "loader does not fit",
    ),
    "epoch not a number": (lambda s: s.update(epoch="one"), "epoch must be an integer"),
    "history too short": (lambda s: s.update(history=[]), "history must be a list"),
    "history row": (
        lambda s: s["history"][0].pop("test_loss"),
        "history[0]['test_loss'] is missing",
    ),
}
# What evaluate needs: the config, the data sizes and the model, not the training state.
EVALUATE_NEEDS = (
    "config",
    "field",
    "no model",
    "model",
    "wrong shape",
    "renamed key",
    "missing key",
    "integer",
    "bad config",
    "unknown dataset",
    "huge",
    "other dataset",
    "wrong dataset name",
)


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_wrong_checkpoint_content_names_the_field(runs, tmp_path, capsys, case):
    change, field = BAD_CHECKPOINTS[case]
    path = crafted(runs, tmp_path, change or sgd_state_into_adamw(runs))
    code, line, _ = fails(
        capsys, "train", "--resume", path, "--epochs", 3, "--out", tmp_path / "out"
    )
    assert code == 1 and line.startswith(f"chainrule train: {path}: ") and field in line
    assert not (tmp_path / "out").exists()
    if case.startswith(EVALUATE_NEEDS):
        code, line, _ = fails(capsys, "evaluate", path)
        assert code == 1 and line.startswith(f"chainrule evaluate: {path}: ") and field in line
        with pytest.raises(CheckpointError, match=re.escape(field)):
            load_model(path)
    else:
        assert main(["evaluate", str(path)]) == 0


def test_missing_and_corrupt_checkpoints_are_one_line(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    for path in (tmp_path / "missing.npz", corrupt, tmp_path):
        for argv in (["train", "--resume", path], ["evaluate", path]):
            code, line, _ = fails(capsys, *argv)
            assert code == 1 and str(path) in line


# ------------------------------------------------------------------ memory (item 9)


def test_a_network_too_big_for_memory_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train_module, "available_memory", lambda: 16 * 2**30)
    out = tmp_path / "run"
    code, line, stdout = fails(capsys, "train", "--hidden", "100000000", "--out", out)
    assert code == 1
    assert "64-100000000-10 network needs about" in line and "GiB" in line
    assert "only 16.0 GiB is available" in line
    assert "epoch" not in stdout and not out.exists()
    # A run that fits is not refused.
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0


def test_running_out_of_memory_anyway_is_one_line(tmp_path, capsys, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 3.0 GiB")

    monkeypatch.setattr(train_module, "build_model", no_memory)
    code, line, _ = fails(capsys, "train", *TINY, "--out", tmp_path / "run")
    assert code == 1 and "out of memory (Unable to allocate 3.0 GiB)" in line


def test_memory_estimate_grows_with_the_network():
    small = TrainConfig(hidden=(64,))
    sizes = (64, 10, 1437, 360)
    assert estimate_memory(small, *sizes) < estimate_memory(TrainConfig(hidden=(640,)), *sizes)
    assert estimate_memory(small, *sizes) < estimate_memory(
        TrainConfig(hidden=(64,), batch_size=1024), *sizes
    )
    sgd = estimate_memory(TrainConfig(hidden=(10_000,), optimizer="sgd"), *sizes)
    assert sgd < estimate_memory(TrainConfig(hidden=(10_000,), optimizer="adam"), *sizes)
    # A float32 parameter is 4 bytes; with AdamW's two moments at least 12 per parameter.
    params = 64 * 10**8 + 10**8 + 10 * 10**8 + 10
    assert estimate_memory(TrainConfig(hidden=(10**8,)), *sizes) >= 12 * params


def test_available_memory_reads_the_container_limit(tmp_path, monkeypatch):
    found = available_memory()
    assert found is None or found > 0
    # The machine's own figures change from one read to the next: fixed ones from here on.
    (tmp_path / "meminfo").write_text("MemTotal: 8388608 kB\nMemAvailable: 2097152 kB\n")
    monkeypatch.setattr(train_module, "_MEMINFO", str(tmp_path / "meminfo"))
    (tmp_path / "memory.max").write_text("1073741824\n")
    (tmp_path / "memory.current").write_text(str(900 * 2**20))
    (tmp_path / "memory.stat").write_text(f"anon 1\ninactive_file {100 * 2**20}\n")
    monkeypatch.setattr(train_module, "_CGROUP", str(tmp_path))
    assert available_memory() == 224 * 2**20  # the container's limit, below MemAvailable
    (tmp_path / "memory.max").write_text("max\n")
    assert available_memory() == 2 * 2**30  # no limit: MemAvailable


# ------------------------------------------------------------------ under mpiexec


def mpiexec():
    found = shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    return found or shutil.which("mpiexec")


@pytest.mark.skipif(
    mpiexec() is None or not os.path.isdir("/proc/self"), reason="needs mpiexec and Linux /proc"
)
def test_a_failure_under_mpiexec_ends_every_rank(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    try:
        result = subprocess.run(
            [
                mpiexec(),
                "-n",
                "2",
                sys.executable,
                "-m",
                "chainrule",
                "train",
                *TINY,
                "--out",
                "/proc/self",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a rank kept waiting after the other failed")
    assert result.returncode != 0
    assert "cannot write to output directory /proc/self" in result.stderr
    assert "Traceback" not in result.stderr


FULL_DISK_ON_RANK_0 = """
import errno, os, sys
import chainrule.train as train_module
from chainrule.cli import main
from chainrule.distributed import init

real_save = train_module.save

def save(obj, path):
    if obj["epoch"] == 2:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_save(obj, path)

if init().is_root:  # only rank 0 writes; rank 1 goes on to wait for it in epoch 3
    train_module.save = save
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(mpiexec() is None, reason="needs mpiexec")
def test_a_full_disk_on_rank_0_ends_the_job_with_one_line(tmp_path):
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK_ON_RANK_0)
    env = {**os.environ, "PYTHONPATH": SRC}
    try:
        result = subprocess.run(
            [
                mpiexec(),
                "-n",
                "2",
                sys.executable,
                str(script),
                "train",
                *TINY,
                "--epochs",
                "50",
                "--out",
                "run",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("rank 1 kept waiting after rank 0 failed")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "No space left" in line]
    assert lines == [
        "chainrule train: cannot write run/checkpoint.npz (No space left on "
        "device); the last good checkpoint run/checkpoint.npz is left unchanged"
    ]
    assert "Traceback" not in result.stderr
    assert load(tmp_path / "run" / "checkpoint.npz")["epoch"] == 1


def test_config_errors_name_the_field():
    for values, field in (
        ({"seed": -1}, "seed"),
        ({"hidden": ""}, "hidden"),
        ({"hidden": "8,,8"}, "hidden"),
        ({"epochs": 10**7}, "epochs"),
        ({"lr": float("inf")}, "lr"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"out": ""}, "out"),
        ({"dataset": ["iris"]}, "dataset"),
        ({"hidden": [True]}, "hidden"),
    ):
        with pytest.raises(train_module.ConfigError, match=f"TrainConfig: {field} ") as info:
            TrainConfig(**values)
        assert info.value.field == field
    assert TrainConfig(hidden=" 16 , 8 ").hidden == (16, 8)
    assert TrainConfig(hidden=()).hidden == ()  # no hidden layer, asked for explicitly


# ------------------------------------------------------------------ convolutional networks

CNN = ["--model", "cnn", "--dataset", "digits", "--channels", "2", "--kernel", "3", "--hidden", "8"]


@pytest.mark.parametrize(
    "argv, names",
    [
        (["--channels", ""], "--channels"),
        (["--channels", "4,,8"], "--channels"),
        (["--channels", "0"], "--channels"),
        (["--channels", "4.5"], "--channels"),
        (["--channels", "2,2,2,2"], "--channels"),  # 8x8 digits halve to nothing after three
        (["--kernel", "0"], "--kernel"),
        (["--kernel", "9"], "--kernel"),  # larger than the 8x8 image
        (["--kernel", "3.5"], "--kernel"),
        (["--model", "rnn"], "--model"),
        (["--dataset", "iris"], "--dataset"),  # not images
        (["--data-dir", "."], "--data-dir"),  # digits ship with scikit-learn
        (["--data-dir", ""], "--data-dir"),
    ],
)
def test_bad_cnn_flags_are_one_line_naming_the_option(tmp_path, capsys, monkeypatch, argv, names):
    monkeypatch.chdir(tmp_path)
    code, line, out = fails(capsys, "train", *CNN, "--epochs", 1, *argv)
    assert code == 2
    assert names in line
    assert "epoch" not in out and os.listdir(tmp_path) == []  # refused before training


@pytest.mark.parametrize(
    "flag, name",
    [
        (["--channels", "4"], "--channels"),
        (["--kernel", "3"], "--kernel"),
        (["--augment"], "--augment"),
        (["--no-augment"], "--augment"),
    ],
)
def test_cnn_flags_on_an_mlp_are_refused(tmp_path, capsys, monkeypatch, flag, name):
    monkeypatch.chdir(tmp_path)
    code, line, _ = fails(capsys, "train", *TINY, "--epochs", 1, *flag)
    assert code == 2 and line.startswith(f"chainrule train: {name} is a setting of model 'cnn'")
    assert os.listdir(tmp_path) == []


def test_cnn_on_a_dataset_without_images_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, line, _ = fails(capsys, "train", "--model", "cnn", "--dataset", "breast_cancer")
    assert code == 2
    assert line == (
        "chainrule train: --dataset must be a dataset of images for model 'cnn' "
        "(cifar10, digits, fashion_mnist, mnist), got 'breast_cancer'"
    )


def test_missing_data_dir_files_are_one_line(tmp_path, capsys):
    code, line, _ = fails(
        capsys,
        "train",
        "--model",
        "cnn",
        "--dataset",
        "mnist",
        "--data-dir",
        tmp_path,
        "--out",
        tmp_path / "out",
    )
    assert code == 1 and "train-images-idx3-ubyte" in line
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn")
    config = TrainConfig(
        model="cnn", dataset="digits", channels=(2,), kernel=3, hidden=(8,), epochs=1, out=str(out)
    )
    return train(config).checkpoint


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--model", "mlp"], "model='cnn' (given 'mlp')"),
        (["--channels", "4"], "channels=(2,) (given (4,))"),
        (["--kernel", "5"], "kernel=3 (given 5)"),
        (["--no-augment"], "augment=True (given False)"),
    ],
)
def test_resuming_a_cnn_with_other_settings_is_refused(cnn_run, tmp_path, capsys, argv, named):
    code, line, _ = fails(
        capsys, "train", "--resume", cnn_run, "--epochs", 2, "--out", tmp_path / "out", *argv
    )
    assert code == 2 and "cannot resume" in line and named in line
    assert not (tmp_path / "out").exists()


def test_resuming_an_mlp_as_a_cnn_is_refused(runs, tmp_path, capsys):
    # The iris run has no images: the model named, not the dataset it no longer fits.
    code, line, _ = fails(
        capsys,
        "train",
        "--resume",
        runs["adamw"],
        "--epochs",
        2,
        "--model",
        "cnn",
        "--out",
        tmp_path / "out",
    )
    assert code == 2 and "model='mlp' (given 'cnn')" in line


BAD_CNN_CHECKPOINTS = {
    # A CNN's weights under an MLP's config, and the other way round.
    "config says mlp": (
        lambda s: s["config"].update(model="mlp", channels=None, kernel=None, augment=None),
        "model['4.weight'] is not a parameter of the network",
    ),
    "other channels": (
        lambda s: s["config"].update(channels=[3]),
        ("model['0.weight'] has shape (2, 1, 3, 3), the config's network needs (3, 1, 3, 3)"),
    ),
    "other kernel": (lambda s: s["config"].update(kernel=5), "model['0.weight'] has shape"),
    "too many conv layers": (
        lambda s: s["config"].update(channels=[2] * 9),
        "config['channels'] has too many conv layers",
    ),
    "huge kernel": (lambda s: s["config"].update(kernel=10**9), "config['kernel']"),
    "cnn options on an mlp": (
        lambda s: s["config"].update(model="mlp"),
        "config['channels'] is a setting of model 'cnn' only",
    ),
    "unknown model": (lambda s: s["config"].update(model="rnn"), "config['model']"),
    "augment not a bool": (lambda s: s["config"].update(augment="yes"), "config['augment']"),
    "data_dir on digits": (lambda s: s["config"].update(data_dir="/data"), "config['data_dir']"),
    "other image size": (
        lambda s: s["data"].update(num_features=784),
        "data['num_features'] is 784",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CNN_CHECKPOINTS))
def test_wrong_cnn_checkpoint_content_names_the_field(cnn_run, tmp_path, capsys, case):
    change, field = BAD_CNN_CHECKPOINTS[case]
    state = load(cnn_run)
    change(state)
    path = tmp_path / "crafted.npz"
    save(state, path)
    for argv in (
        ["train", "--resume", path, "--epochs", 3, "--out", tmp_path / "out"],
        ["evaluate", path],
    ):
        code, line, _ = fails(capsys, *argv)
        assert code == 1 and line.startswith(f"chainrule {argv[0]}: {path}: ") and field in line
    assert not (tmp_path / "out").exists()


def test_an_mlp_checkpoint_under_a_cnn_config_is_refused(runs, tmp_path):
    state = load(runs["adamw"])
    state["config"].update(model="cnn", dataset="digits")
    state["data"].update(name="digits", num_features=64, num_classes=10)
    path = tmp_path / "crafted.npz"
    save(state, path)
    with pytest.raises(CheckpointError, match=r"model\['2.weight'\] is not a parameter"):
        load_model(path)
