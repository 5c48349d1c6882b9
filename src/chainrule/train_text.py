"""The character-level language model that ``chainrule train --model lstm`` trains.

:class:`CharLSTM` embeds characters, runs them through an LSTM and scores the next
character with a Linear head over the vocabulary. It is trained by truncated
backpropagation through time: :class:`Unrolled` runs it over consecutive chunks of
parallel streams (:class:`~chainrule.data.TextStreams`), carrying the LSTM's ``(h, c)``
from one chunk into the next but ``detach()``-ed, so each backward pass stops at the
chunk boundary. :func:`evaluate_text` scores a model on a text (loss, bits per
character, accuracy) and :func:`sample` generates text from it.

>>> model = CharLSTM(vocab_size=5, embedding_dim=3, hidden_size=4, rng=0)
>>> logits, (h, c) = model(np.array([[0, 1, 2]]))
>>> logits.shape, h.shape
((1, 3, 5), (1, 1, 4))
>>> len(sample(model, "abcde", "ab", length=10, rng=0))
12
"""

import math

import numpy as np

from . import nn
from .autograd.mode import no_grad
from .data.text import TextStreams, encode
from .nn import functional as F

__all__ = ["CLIP_NORM", "CharLSTM", "Unrolled", "evaluate_text", "parameter_shapes", "sample"]

# The gradient norm training clips to. With the defaults on the standard library's text
# the norm is near 0.25 for most steps, up to 3 in the first ones: this tames those
# spikes and leaves the rest alone.
CLIP_NORM = 1.0


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> Linear: the logits of the next character after each one.

    ``forward(ids, state=None)`` takes integer ids of shape (batch, steps) and the
    LSTM's ``(h, c)`` to start from (zeros when None); it returns the logits, of shape
    (batch, steps, vocab_size), and the final ``(h, c)``, each (num_layers, batch,
    hidden_size).
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, *, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, rng=rng)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True, rng=rng)
        self.head = nn.Linear(hidden_size, vocab_size, rng=rng)

    def forward(self, ids, state=None):
        output, state = self.lstm(self.embedding(ids), state)
        return self.head(output), state


def parameter_shapes(vocab_size, embedding_dim, hidden_size, num_layers):
    """The state-dict keys and shapes of a :class:`CharLSTM`, without building it.

    >>> parameter_shapes(10, 3, 4, 1)["lstm.weight_ih_l0"]
    (16, 3)
    """
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (vocab_size, embedding_dim)}
    for layer in range(num_layers):
        width = embedding_dim if layer == 0 else hidden_size
        shapes[f"lstm.weight_ih_l{layer}"] = (4 * hidden_size, width)
        shapes[f"lstm.weight_hh_l{layer}"] = (4 * hidden_size, hidden_size)
        shapes[f"lstm.bias_ih_l{layer}"] = (4 * hidden_size,)
        shapes[f"lstm.bias_hh_l{layer}"] = (4 * hidden_size,)
    shapes["head.weight"] = (vocab_size, hidden_size)
    shapes["head.bias"] = (vocab_size,)
    return shapes


class Unrolled:
    """The loss of ``model`` on consecutive chunks of the same streams.

    Each call ``(inputs, targets)`` starts from the state the previous call ended in,
    detached: gradients flow back through the chunk's own steps only (truncated
    backpropagation through time). Returns the mean cross-entropy over the chunk's
    characters (a graph to call ``backward`` on), how many next characters the model
    ranked first, and how many characters there were. A new Unrolled starts from zeros.
    """

    def __init__(self, model):
        self.model = model
        self.state = None

    def __call__(self, inputs, targets):
        logits, state = self.model(inputs, self.state)
        self.state = tuple(s.detach() for s in state)
        logits = logits.reshape(-1, logits.shape[-1])
        targets = np.asarray(targets).reshape(-1)
        hits = int(np.sum(logits.data.argmax(axis=1) == targets))
        return F.cross_entropy(logits, targets), hits, targets.size


def evaluate_text(model, ids, batch_size, seq_len):
    """Mean cross-entropy (nats), bits per character, and accuracy of predicting each next
    character of ``ids``, read as ``batch_size`` streams (fewer for a short text) of
    ``seq_len`` steps at a time; without a graph.

    >>> model = CharLSTM(4, 2, 3, rng=0)
    >>> scores = evaluate_text(model, np.array([0, 1, 2, 3] * 5), batch_size=2, seq_len=4)
    >>> scores["num_samples"], scores["bits_per_char"] == scores["loss"] / math.log(2)
    (18, True)
    """
    streams = TextStreams(ids, min(batch_size, len(ids) - 1), seq_len)
    unrolled = Unrolled(model)
    total, hits = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for inputs, targets in streams:
                loss, chunk_hits, count = unrolled(inputs, targets)
                total += loss.item() * count
                hits += chunk_hits
    finally:
        model.train(was_training)
    loss = total / streams.num_tokens
    return {
        "loss": loss,
        "bits_per_char": loss / math.log(2),
        "accuracy": hits / streams.num_tokens,
        "num_samples": streams.num_tokens,
    }


def sample(model, vocabulary, prompt, length, temperature=1.0, rng=None):
    """``prompt`` followed by ``length`` characters drawn from ``model`` one at a time.

    Each character is drawn from the softmax of the logits divided by ``temperature``
    (below 1: more likely characters, above: more varied); ``temperature=0`` takes the
    most likely one. ``rng`` (a seed or Generator) makes the draws repeatable. A prompt
    character missing from ``vocabulary`` raises ValueError naming it.
    """
    if not prompt:
        raise ValueError("the prompt must hold at least one character")
    if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 0:
        raise ValueError(f"sample: length must be an int >= 0, got {length!r}")
    if not 0 <= float(temperature) < math.inf:
        raise ValueError(f"sample: temperature must be a finite number >= 0, got {temperature!r}")
    try:
        ids = encode(prompt, vocabulary)
    except ValueError as exc:
        raise ValueError(f"the prompt has {exc}") from None
    rng = np.random.default_rng(rng)
    drawn = []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            logits, state = model(ids[None, :])
            for i in range(length):
                last = logits.data[0, -1].astype(np.float64)
                if temperature == 0:
                    char = int(np.argmax(last))
                else:
                    weights = np.exp((last - last.max()) / temperature)
                    char = int(rng.choice(len(last), p=weights / weights.sum()))
                drawn.append(vocabulary[char])
                if i + 1 < length:
                    logits, state = model(np.array([[char]]), state)
    finally:
        model.train(was_training)
    return prompt + "".join(drawn)
