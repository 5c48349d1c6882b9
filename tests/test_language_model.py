"""The character-level language model: ``chainrule train --model lstm``, ``evaluate`` and
``sample`` (issue #18), and the text data and truncated backpropagation under them."""

import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.cli import main
from chainrule.data.text import TextFileError, TextStreams, decode, encode, load_text
from chainrule.serialization import load
from chainrule.train import TrainConfig, evaluate_checkpoint, sample_checkpoint
from chainrule.train_text import CharLSTM, Unrolled, evaluate_text, sample

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
# Tiny, so that an epoch takes a fraction of a second: 47 updates on the text below.
TINY = ["--hidden", 16, "--embedding", 8, "--seq-len", 8, "--batch-size", 5]


def write_text(tmp_path, name="code.txt"):
    """About 2,000 characters of repetitive Python, 25 distinct characters."""
    text = "".join(f"def f{i}(x):\n    return x * {i} + {i % 7}\n\n" for i in range(60))
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def train_cli(capsys, text, out, *extra):
    return run_cli(capsys, "train", "--model", "lstm", "--text", text, *TINY, *extra, "--out", out)


def without_timings(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


# ---------------------------------------------------------------------------- training


def test_one_epoch_lowers_the_loss_and_reports_bits_per_char(tmp_path, capsys):
    text = write_text(tmp_path)
    # Zero epochs: the checkpoint holds the model as initialised.
    assert train_cli(capsys, text, tmp_path / "untrained", "--epochs", 0)[0] == 0
    initial = evaluate_checkpoint(tmp_path / "untrained" / "checkpoint.npz")

    code, stdout, _ = train_cli(capsys, text, tmp_path / "run", "--epochs", 1)
    assert code == 0
    row = json.loads((tmp_path / "run" / "metrics.json").read_text())["final"]
    # At initialisation the model is close to uniform over the 25 characters (log 25 =
    # 3.2 nats); one epoch of this repetitive text takes it well below (1.6 measured).
    assert initial["loss"] > 3.0
    assert row["test_loss"] < initial["loss"] - 0.5
    assert row["train_loss"] < initial["loss"]
    # Bits per character are the loss in nats over ln 2, for both parts of the text.
    assert row["test_bits_per_char"] == pytest.approx(row["test_loss"] / math.log(2), rel=1e-12)
    assert row["train_bits_per_char"] == pytest.approx(row["train_loss"] / math.log(2), rel=1e-12)
    assert 0 < row["test_accuracy"] <= 1
    [line] = [line for line in stdout.splitlines() if line.startswith("epoch")]
    assert f"test bits/char {row['test_bits_per_char']:.3f}" in line
    assert f"test bits/char {row['test_bits_per_char']:.3f}, test accuracy" in stdout


def test_the_checkpoint_holds_the_vocabulary_in_chainrules_own_format(tmp_path, capsys):
    text = write_text(tmp_path)
    assert train_cli(capsys, text, tmp_path / "run", "--epochs", 1)[0] == 0
    state = load(tmp_path / "run" / "checkpoint.npz")
    vocabulary = "".join(sorted(set(text.read_text())))
    assert state["kind"] == "chainrule.train" and state["config"]["model"] == "lstm"
    assert state["data"]["vocabulary"] == vocabulary
    assert state["data"]["num_classes"] == len(vocabulary) == 25
    assert state["model"]["embedding.weight"].shape == (25, 8)
    assert state["model"]["lstm.weight_hh_l0"].shape == (64, 16)
    assert state["model"]["head.weight"].shape == (25, 16)
    assert state["config"]["text"] == str(text)  # absolute, for a resume from elsewhere
    assert state["loader"] == {"epoch": 1, "num_tokens": 1870, "batch_size": 5, "seq_len": 8}


@pytest.mark.parametrize("layers", [1, 2])
def test_resume_gives_bit_identical_parameters(tmp_path, capsys, layers):
    text = write_text(tmp_path)
    extra = ["--layers", layers, "--seed", 3]
    assert train_cli(capsys, text, tmp_path / "full", *extra, "--epochs", 3)[0] == 0
    assert train_cli(capsys, text, tmp_path / "half", *extra, "--epochs", 1)[0] == 0
    code, stdout, _ = run_cli(
        capsys, "train", "--resume", tmp_path / "half" / "checkpoint.npz", "--epochs", 3
    )
    assert code == 0 and "resuming" in stdout and "epoch   1/3" not in stdout

    a, b = load(tmp_path / "full" / "checkpoint.npz"), load(tmp_path / "half" / "checkpoint.npz")
    assert b["epoch"] == 3
    assert list(a["model"]) == list(b["model"])
    for name in a["model"]:
        assert a["model"][name].tobytes() == b["model"][name].tobytes(), name
    for index, entry in a["optimizer"]["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(value, b["optimizer"]["state"][index][key])
    assert a["loader"] == b["loader"]
    assert without_timings(a["history"]) == without_timings(b["history"])


def test_resume_after_an_interrupted_epoch(tmp_path, capsys, monkeypatch):
    # The state carried along the streams is not in the checkpoint: an epoch cut short
    # is run again from its start, as it was the first time.
    text = write_text(tmp_path)
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert train_cli(capsys, text, full, "--epochs", 2)[0] == 0
    steps_per_epoch = len(TextStreams(load_text(text).train, 5, 8))
    real_step, calls = optim.AdamW.step, []

    def interrupted_step(self, closure=None):
        calls.append(1)
        if len(calls) == steps_per_epoch + 5:
            raise KeyboardInterrupt
        return real_step(self, closure)

    monkeypatch.setattr(optim.AdamW, "step", interrupted_step)
    code, _, stderr = train_cli(capsys, text, cut, "--epochs", 2)
    assert code == 130 and "--resume" in stderr
    monkeypatch.undo()
    assert load(cut / "checkpoint.npz")["epoch"] == 1
    assert run_cli(capsys, "train", "--resume", cut / "checkpoint.npz")[0] == 0
    a, b = load(full / "checkpoint.npz")["model"], load(cut / "checkpoint.npz")["model"]
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name


def test_evaluate_reports_the_test_bits_per_char_of_training(tmp_path, capsys):
    text = write_text(tmp_path)
    assert train_cli(capsys, text, tmp_path / "run", "--epochs", 1)[0] == 0
    final = json.loads((tmp_path / "run" / "metrics.json").read_text())["final"]
    checkpoint = tmp_path / "run" / "checkpoint.npz"

    code, stdout, _ = run_cli(capsys, "evaluate", checkpoint)
    assert code == 0
    assert f"bits/char {final['test_bits_per_char']:.3f}" in stdout
    assert "characters" in stdout and "confusion" not in stdout

    code, stdout, _ = run_cli(capsys, "evaluate", checkpoint, "--json")
    scores = json.loads(stdout)
    # The same computation on the same weights as at the end of training.
    assert scores["loss"] == final["test_loss"]
    assert scores["accuracy"] == final["test_accuracy"]
    assert scores["bits_per_char"] == final["test_bits_per_char"]
    assert scores["num_samples"] == 205  # 208 test characters in 5 streams of 41 steps

    train_scores = evaluate_checkpoint(checkpoint, split="train")
    assert train_scores["num_samples"] == 1870


def test_a_changed_text_is_refused_when_evaluating_or_resuming(tmp_path, capsys):
    text = write_text(tmp_path)
    assert train_cli(capsys, text, tmp_path / "run", "--epochs", 1)[0] == 0
    text.write_text(text.read_text().replace("return", "yield"))
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    for argv in (["evaluate", checkpoint], ["train", "--resume", checkpoint, "--epochs", 2]):
        code, _, stderr = run_cli(capsys, *argv)
        assert code == 1
        assert "data['sha256']" in stderr and str(text) in stderr
        assert "not the one the model was trained on" in stderr


def test_a_missing_text_or_a_damaged_vocabulary_is_named(tmp_path, capsys):
    text = write_text(tmp_path)
    assert train_cli(capsys, text, tmp_path / "run", "--epochs", 1)[0] == 0
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    state = load(checkpoint)
    state["data"]["vocabulary"] = state["data"]["vocabulary"][:-1] + "d"  # 'd' twice
    cr.save(state, tmp_path / "edited.npz")
    for argv in (["evaluate", tmp_path / "edited.npz"], ["sample", tmp_path / "edited.npz"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 1 and "data['vocabulary'] must be a string of 25 distinct" in err

    text.unlink()
    code, _, err = run_cli(capsys, "evaluate", checkpoint)
    assert code == 1 and f"text file {text} cannot be read" in err
    # Sampling needs the model and its vocabulary, not the text.
    assert run_cli(capsys, "sample", checkpoint, "--length", 5)[0] == 0


# ---------------------------------------------------------------------------- sampling


def test_sample_echoes_the_prompt_honours_the_length_and_repeats_with_a_seed(tmp_path, capsys):
    text = write_text(tmp_path)
    assert train_cli(capsys, text, tmp_path / "run", "--epochs", 1)[0] == 0
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    argv = ["sample", checkpoint, "--prompt", "def ", "--length", 60]

    code, first, _ = run_cli(capsys, *argv, "--seed", 7)
    assert code == 0
    assert first.startswith("def ") and first.endswith("\n")
    assert len(first) == len("def ") + 60 + 1  # the text, then print's newline
    assert set(first) <= set(text.read_text()) | {"\n"}
    assert run_cli(capsys, *argv, "--seed", 7)[1] == first
    # 60 draws from a model still far from certain: another seed gives another text.
    assert run_cli(capsys, *argv, "--seed", 8)[1] != first

    # Temperature 0 takes the likeliest character each time: no seed needed to repeat.
    greedy = run_cli(capsys, *argv, "--temperature", 0)[1]
    assert greedy == run_cli(capsys, *argv, "--temperature", 0)[1]
    assert run_cli(capsys, "sample", checkpoint, "--prompt", "x", "--length", 0)[1] == "x\n"


def test_sample_draws_from_the_softmax_with_temperature():
    model = CharLSTM(3, 2, 4, rng=0)
    model.head.weight.data[...] = 0
    model.head.bias.data[...] = np.log([0.7, 0.2, 0.1], dtype=np.float32)
    draws = sample(model, "abc", "a", length=4000, rng=0)[1:]
    counts = np.array([draws.count(c) for c in "abc"]) / len(draws)
    # 4,000 draws: the standard error of each frequency is below 0.008.
    np.testing.assert_allclose(counts, [0.7, 0.2, 0.1], atol=0.03)
    assert sample(model, "abc", "a", length=20, temperature=0) == "a" + "a" * 20
    # At temperature 0.25 the probabilities go as their fourth powers: 'a' almost always.
    cold = sample(model, "abc", "a", length=1000, temperature=0.25, rng=1)[1:]
    assert cold.count("a") / 1000 > 0.95


def test_prompt_characters_outside_the_vocabulary_are_named(tmp_path, capsys):
    text = write_text(tmp_path)
    assert train_cli(capsys, text, tmp_path / "run", "--epochs", 1)[0] == 0
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    code, out, err = run_cli(capsys, "sample", checkpoint, "--prompt", "def Zé(")
    assert code == 2 and out == ""
    assert err.strip() == (
        "chainrule sample: the prompt has 2 characters not in the vocabulary "
        "(25 characters): 'Z', 'é'"
    )
    with pytest.raises(ValueError, match="'Z'"):
        sample_checkpoint(checkpoint, prompt="Z")


def test_sample_refuses_a_checkpoint_that_is_not_a_language_model(tmp_path, capsys):
    out = tmp_path / "mlp"
    args = ["--dataset", "iris", "--hidden", 4, "--epochs", 1, "--out", out]
    assert run_cli(capsys, "train", *args)[0] == 0
    code, _, err = run_cli(capsys, "sample", out / "checkpoint.npz")
    assert code == 1 and "not a language model" in err and "'mlp'" in err


def test_sample_options_out_of_range_exit_with_status_2(tmp_path, capsys):
    for argv, problem in (
        (["--length", -1], "--length must be >= 0"),
        (["--temperature", "nan"], "--temperature must be a finite number >= 0"),
        (["--temperature", -1], "--temperature must be a finite number >= 0"),
    ):
        code, _, err = run_cli(capsys, "sample", tmp_path / "none.npz", *argv)
        assert code == 2 and problem in err


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "cannot be read (No such file or directory)"),
        (b"", "is empty"),
        (b"abc\x00\x01\x02", "is binary, not text (a NUL byte at offset 3)"),
        (
            "café au lait".encode("latin-1"),
            "is not UTF-8 text (byte 0xe9 at offset 3); convert it, e.g. with iconv -t utf-8",
        ),
        (b"abc", "has 3 characters, too few to hold out a test part"),
    ],
)
def test_a_bad_text_file_is_named(tmp_path, capsys, content, problem):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    code, out, err = train_cli(capsys, path, tmp_path / "run", "--epochs", 1)
    assert code == 2
    assert err.strip() == f"chainrule train: text file {path} {problem}"
    assert not (tmp_path / "run").exists()
    with pytest.raises(TextFileError, match=re.escape(problem)):
        load_text(path)


def test_a_directory_given_as_the_text_is_named(tmp_path, capsys):
    code, _, err = train_cli(capsys, tmp_path, tmp_path / "run", "--epochs", 1)
    assert code == 2 and f"text file {tmp_path} cannot be read" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--dataset", "text"],
            "--dataset is a text, for model 'lstm' only (a character-level language model)",
        ),
        (["--model", "lstm", "--dataset", "digits"], "--dataset must be a text for model 'lstm'"),
        (["--model", "cnn", "--dataset", "text"], "--dataset is a text, for model 'lstm' only"),
        (["--text", "x.txt"], "--text is a setting of model 'lstm' only"),
        (["--seq-len", "8"], "--seq-len is a setting of model 'lstm' only"),
        (["--model", "lstm", "--hidden", "8,8"], "--hidden must be one size for model 'lstm'"),
        (["--model", "lstm", "--layers", "0"], "--layers must be a positive integer"),
        (["--model", "lstm", "--seq-len", "0"], "--seq-len must be a positive integer"),
        (["--model", "lstm", "--embedding", "-2"], "--embedding must be a positive integer"),
        (["--model", "lstm", "--activation", "tanh"], "--activation is a setting of models"),
        (["--model", "lstm", "--loss", "mse"], "--loss must be cross_entropy for model 'lstm'"),
    ],
)
def test_settings_that_do_not_fit_exit_with_status_2(tmp_path, capsys, argv, message):
    code, _, err = run_cli(capsys, "train", *argv, "--out", tmp_path / "run")
    assert code == 2
    assert err.startswith(f"chainrule train: {message}")
    assert not (tmp_path / "run").exists()


def test_more_streams_than_training_characters_are_refused(tmp_path, capsys):
    text = write_text(tmp_path)
    argv = ["train", "--model", "lstm", "--text", text, "--batch-size", 1872]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "run")
    assert code == 2
    assert "--batch-size must be below the 1872 characters of the training text" in err


def test_config_defaults_and_round_trip(tmp_path):
    config = TrainConfig(model="lstm", text=tmp_path / "a.txt")
    assert (config.dataset, config.hidden, config.layers, config.seq_len) == ("text", (256,), 1, 32)
    assert config.embedding == 32 and config.epochs == 3 and config.activation is None
    assert config.learning_rate == 5e-3 and config.decay == 0.0
    assert config.text == str(tmp_path / "a.txt")
    assert TrainConfig.from_dict(config.to_dict()) == config
    # The classifiers keep their defaults.
    assert (TrainConfig().dataset, TrainConfig().activation, TrainConfig().epochs) == (
        "digits",
        "relu",
        30,
    )


# ---------------------------------------------------------------------------- the pieces


def test_streams_continue_row_by_row_and_targets_are_the_next_characters():
    ids = np.arange(23)
    streams = TextStreams(ids, batch_size=3, seq_len=3)
    chunks = list(streams)
    assert len(streams) == len(chunks) == 3 and streams.steps == 7
    assert [x.shape for x, _ in chunks] == [(3, 3), (3, 3), (3, 1)]
    inputs = np.concatenate([x for x, _ in chunks], axis=1)
    targets = np.concatenate([y for _, y in chunks], axis=1)
    np.testing.assert_array_equal(inputs, np.arange(21).reshape(3, 7))
    np.testing.assert_array_equal(targets, inputs + 1)
    assert streams.num_tokens == 21 and streams.epoch == 1
    with pytest.raises(ValueError, match="3 streams need more than 3 ids"):
        TextStreams(np.arange(3), batch_size=3, seq_len=2)
    with pytest.raises(ValueError, match="saved seq_len=4"):
        streams.load_state_dict({**streams.state_dict(), "seq_len": 4})


def test_unrolled_chunks_carry_the_state_and_cut_the_graph():
    model = CharLSTM(6, 3, 5, num_layers=2, rng=0)
    ids = np.random.default_rng(0).integers(6, size=(2, 13))
    whole, _ = model(ids[:, :12])
    unrolled = Unrolled(model)
    losses = []
    for start, stop in ((0, 5), (5, 10), (10, 12)):
        loss, _, count = unrolled(ids[:, start:stop], ids[:, start + 1 : stop + 1])
        losses.append(loss.item() * count)
        h, c = unrolled.state
        # Detached: the next chunk's backward pass stops here.
        assert not h.requires_grad and h.grad_fn is None and c.grad_fn is None
    # The carried state makes the chunks one pass over the sequence: the summed loss is
    # the whole sequence's (float32; the same operations in another grouping).
    logits = whole.reshape(-1, 6)
    full = cr.nn.functional.cross_entropy(logits, ids[:, 1:13].reshape(-1), reduction="sum")
    assert sum(losses) == pytest.approx(full.item(), rel=1e-5)


def test_truncated_backprop_gives_the_chunks_own_gradient():
    # The gradient of the second chunk's loss with the carried state detached equals
    # that of a fresh run started from that state as a constant.
    model = CharLSTM(4, 2, 3, rng=1)
    ids = np.random.default_rng(1).integers(4, size=(2, 9))
    unrolled = Unrolled(model)
    unrolled(ids[:, :4], ids[:, 1:5])
    start = tuple(s.data.copy() for s in unrolled.state)
    loss, _, _ = unrolled(ids[:, 4:8], ids[:, 5:9])
    model.zero_grad()
    loss.backward()
    truncated = {name: p.grad.numpy().copy() for name, p in model.named_parameters()}
    model.zero_grad()
    logits, _ = model(ids[:, 4:8], tuple(cr.tensor(s) for s in start))
    cr.nn.functional.cross_entropy(logits.reshape(-1, 4), ids[:, 5:9].reshape(-1)).backward()
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(truncated[name], p.grad.numpy(), err_msg=name)


def test_evaluate_text_scores_every_stream_character():
    model = CharLSTM(4, 2, 3, rng=0)
    ids = np.array([0, 1, 2, 3] * 5)
    scores = evaluate_text(model, ids, batch_size=3, seq_len=4)
    streams = TextStreams(ids, 3, 4)
    logits, _ = model(streams.inputs)
    expected = cr.nn.functional.cross_entropy(logits.reshape(-1, 4), streams.targets.reshape(-1))
    assert scores["num_samples"] == 18
    assert scores["loss"] == pytest.approx(expected.item(), rel=1e-6)
    assert scores["bits_per_char"] == scores["loss"] / math.log(2)


def test_encode_and_decode():
    assert decode(encode("hello", "ehlo"), "ehlo") == "hello"
    with pytest.raises(
        ValueError, match=r"1 character not in the vocabulary \(4 characters\): 'x'"
    ):
        encode("hex", "ehlo")


def test_the_default_text_is_the_standard_librarys_source():
    corpus = load_text()
    assert "standard library" in corpus.description
    again = load_text()  # the same files, in the same order, every time
    assert again.sha256 == corpus.sha256 and again.vocabulary == corpus.vocabulary
    np.testing.assert_array_equal(again.test, corpus.test)
    assert corpus.num_classes > 90 and "\n" in corpus.vocabulary
    assert len(corpus.train) > 300_000


# ---------------------------------------------------------------------------- MPI


def _mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


@pytest.mark.skipif(_mpiexec() is None, reason="needs mpiexec")
def test_under_mpiexec_the_ranks_take_the_single_process_steps(tmp_path):
    pytest.importorskip("mpi4py")
    text = write_text(tmp_path)
    # 5 streams: the ranks train 3 and 2 of them, their gradients weighted by characters.
    args = ["-m", "chainrule", "train", "--model", "lstm", "--text", str(text)]
    args += [str(a) for a in TINY] + ["--epochs", "2"]
    env = {**os.environ, "PYTHONPATH": SRC}
    runs = {}
    for name, launcher in (("one", []), ("two", [_mpiexec(), "-n", "2"])):
        result = subprocess.run(
            [*launcher, sys.executable, *args, "--out", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        runs[name] = load(tmp_path / name / "checkpoint.npz")
    assert result.stdout.count("test bits/char") == 3  # rank 0 alone: 2 epochs, the end
    for name, value in runs["one"]["model"].items():
        # float32: only the order of the gradient sums differs between the two runs.
        np.testing.assert_allclose(runs["two"]["model"][name], value, atol=1e-5, err_msg=name)
