"""A character-level LSTM language model, trained by truncated backpropagation through time.

The model reads text one character at a time and scores every possible next character:

    embedding (vocab -> 32)  ->  LSTM (hidden 256)  ->  linear (256 -> vocab)

The text is cut into ``batch_size`` streams read side by side, ``seq_len`` characters at
a time. The LSTM's state (h, c) is carried from one chunk of a stream into the next, so
the model can use context from further back than one chunk, but it is *detached* between
chunks: backward goes back ``seq_len`` steps and stops there (truncated BPTT), so the cost
of a step does not grow with the length of the text. Gradients are clipped to norm 1, as
LSTMs usually need.

The loss is the cross-entropy in nats per character; divided by ln 2 it is bits per
character (bpc), what it would cost to compress the text with the model's predictions
(8 for raw bytes; the character frequencies alone give 4.24 on argparse.py). The
last tenth of the text is held out for the validation bpc. At the end the model writes a
sample, one character at a time, each drawn from its own predicted distribution.

By default the text is the standard library's ``argparse.py`` (about 100 KB of Python,
on every machine that has Python: nothing is downloaded); give another file to use it.
The default 1,000 steps reach 1.36 bits per character on the held-out tenth (2 minutes
on 2 busy cores, with ``OPENBLAS_NUM_THREADS=1``).

    python examples/lstm_char_model.py [FILE] [--steps N]
"""

import argparse
import math
import sysconfig
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn

DEFAULT_TEXT = Path(sysconfig.get_paths()["stdlib"]) / "argparse.py"
STEPS = 1000


class CharModel(nn.Module):
    """Embedding, a one-layer LSTM and a linear head over the vocabulary."""

    def __init__(self, vocab, embedding=32, hidden=256, rng=0):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.embed = nn.Embedding(vocab, embedding, rng=rng)
        self.lstm = nn.LSTM(embedding, hidden, rng=rng)
        self.head = nn.Linear(hidden, vocab, rng=rng)

    def forward(self, ids, state=None):
        """Scores (T, N, vocab) for character ids (T, N) (time first), and the LSTM's
        final state."""
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


def load_text(path=DEFAULT_TEXT):
    """The text of ``path``, its vocabulary (distinct characters, sorted) and the text as
    ids into it."""
    text = Path(path).read_text(encoding="utf-8")
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    return text, vocab, np.array([index[ch] for ch in text])


def streams(ids, batch_size):
    """``ids`` cut into ``batch_size`` equal streams, as the columns of a (T, N) array."""
    length = len(ids) // batch_size
    return ids[: length * batch_size].reshape(batch_size, length).T


def detach(state):
    """The LSTM's state (h, c) without its history: a later backward stops here."""
    return tuple(s.detach() for s in state)


def bits_per_char(model, ids, batch_size=16, seq_len=256):
    """The model's mean cross-entropy on ``ids`` in bits per character, reading it as
    ``batch_size`` streams with the state carried across chunks (no graph is recorded)."""
    data, state, total, count = streams(ids, batch_size), None, 0.0, 0
    with cr.no_grad():
        for start in range(0, len(data) - 1, seq_len):
            x, y = data[start : start + seq_len], data[start + 1 : start + seq_len + 1]
            scores, state = model(cr.tensor(x[: len(y)]), state)
            loss = nn.functional.cross_entropy(
                scores.reshape(-1, scores.shape[-1]), cr.tensor(y.reshape(-1)), reduction="sum"
            )
            total, count = total + loss.item(), count + y.size
    return total / count / math.log(2)


def sample(model, vocab, prompt, length=200, temperature=0.8, seed=0):
    """``prompt`` (characters of ``vocab``) continued by ``length`` characters drawn from
    the model, each from its predicted distribution sharpened by ``temperature`` (below
    1: likelier characters are drawn more often still)."""
    rng = np.random.default_rng(seed)
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = [index[ch] for ch in prompt]
    with cr.no_grad():
        scores, state = model(cr.tensor(np.array(ids)[:, None]))
        text = []
        for _ in range(length):
            logits = scores.numpy()[-1, 0] / temperature
            p = np.exp(logits - logits.max())
            choice = rng.choice(len(vocab), p=p / p.sum())
            text.append(vocab[choice])
            scores, state = model(cr.tensor(np.array([[choice]])), state)
    return prompt + "".join(text)


def main(
    path=DEFAULT_TEXT,
    steps=STEPS,
    batch_size=32,
    seq_len=64,
    embedding=32,
    hidden=256,
    lr=3e-3,
    sample_length=300,
    prompt="def ",
    seed=0,
    verbose=True,
):
    """Train for ``steps`` chunks; returns the last training bpc (mean of the last 50
    steps), the validation bpc, a sample and the seconds training took. The sample starts
    from ``prompt``, or from the text's first character when the prompt has characters
    the text has not."""
    text, vocab, ids = load_text(path)
    split = len(ids) * 9 // 10
    train, valid = streams(ids[:split], batch_size), ids[split:]
    model = CharModel(len(vocab), embedding, hidden, rng=seed)
    optimizer = cr.optim.Adam(model.parameters(), lr=lr)
    schedule = cr.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    if verbose:
        print(
            f"{Path(path).name}: {len(text):,} characters, {len(vocab)} distinct; "
            f"{batch_size} streams of {len(train):,}, chunks of {seq_len}"
        )

    state, position, recent = None, 0, []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        if position + seq_len + 1 > len(train):  # the end of the streams: start again
            state, position = None, 0
        x = train[position : position + seq_len]
        y = train[position + 1 : position + seq_len + 1]
        position += seq_len
        scores, state = model(cr.tensor(x), state)
        state = detach(state)  # carried forward, but backward stops here
        loss = nn.functional.cross_entropy(scores.reshape(-1, len(vocab)), cr.tensor(y.reshape(-1)))
        optimizer.zero_grad()
        loss.backward()
        cr.optim.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        recent = (recent + [loss.item() / math.log(2)])[-50:]
        if verbose and (step % 100 == 0 or step == steps):
            print(
                f"step {step:5d}: train {np.mean(recent):.3f} bits/char, "
                f"{time.perf_counter() - start:.0f} s"
            )
    seconds = time.perf_counter() - start
    valid_bpc = bits_per_char(model, valid)
    if not set(prompt) <= set(vocab):
        prompt = text[0]
    text_out = sample(model, vocab, prompt, sample_length, seed=seed)
    if verbose:
        print(
            f"validation: {valid_bpc:.3f} bits/char on the last {len(valid):,} characters "
            f"(after {steps} steps, {seconds:.0f} s)\n--- sample ---\n{text_out}"
        )
    return {
        "train_bpc": float(np.mean(recent)),
        "valid_bpc": valid_bpc,
        "sample": text_out,
        "seconds": seconds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("text", nargs="?", default=DEFAULT_TEXT, help="a UTF-8 text file")
    parser.add_argument("--steps", type=int, default=STEPS, help="training chunks")
    args = parser.parse_args()
    main(args.text, steps=args.steps)
