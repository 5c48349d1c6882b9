"""Characters for language models: a corpus, its vocabulary, and the parallel streams that
truncated backpropagation through time walks along. Nothing is downloaded.

:func:`load_text` reads a UTF-8 text file, or by default a fixed list of the Python
standard library's own source files (present wherever Python is), and holds out the last
tenth of it for testing. Characters become integer ids in the corpus's vocabulary (its
distinct characters, sorted); :func:`encode` and :func:`decode` convert between the two.
:class:`TextStreams` cuts a sequence of ids into ``batch_size`` streams read side by side,
``seq_len`` steps at a time, so that a recurrent network can carry its state from one
chunk of a stream into the next.

>>> encode("abba", "ab"), decode([1, 0], "ab")
(array([0, 1, 1, 0]), 'ba')
>>> streams = TextStreams(np.arange(11), batch_size=2, seq_len=3)
>>> [(x.tolist(), y.tolist()) for x, y in streams]
[([[0, 1, 2], [5, 6, 7]], [[1, 2, 3], [6, 7, 8]]), ([[3, 4], [8, 9]], [[4, 5], [9, 10]])]
"""

import hashlib
import os
import sysconfig
from dataclasses import dataclass

import numpy as np

from .files import DatasetFileError

__all__ = [
    "STDLIB_FILES",
    "TEXT_DATASETS",
    "TextCorpus",
    "TextFileError",
    "TextStreams",
    "decode",
    "encode",
    "load_text",
]

TEXT_DATASETS = {
    "text": "characters of a UTF-8 text file (--text FILE); by default of Python source "
    "files from the standard library of the Python that runs it",
}
# Modules that have been single .py files of the standard library since Python 3.7 and
# still are (string.py became a package in 3.14): about 0.5 MB of Python under 3.11, an
# epoch of the default LSTM in well under a minute on 2 cores. Sorted; the last tenth,
# the end of shlex.py, tempfile.py and textwrap.py, is the test text.
STDLIB_FILES = (
    "argparse.py",
    "calendar.py",
    "contextlib.py",
    "copy.py",
    "dataclasses.py",
    "difflib.py",
    "fractions.py",
    "functools.py",
    "heapq.py",
    "pprint.py",
    "random.py",
    "shlex.py",
    "tempfile.py",
    "textwrap.py",
)
TEST_FRACTION = 0.1


class TextFileError(DatasetFileError):
    """A text file that cannot be read, is empty, is not UTF-8 text, or is too short;
    ``path`` names it."""

    def __init__(self, path, problem):
        super().__init__(f"text file {path} {problem}")
        self.path = path


@dataclass(frozen=True, repr=False, eq=False)
class TextCorpus:
    """A text as integer ids: ``train`` (the first nine tenths) and ``test`` (the rest).

    ``vocabulary`` is the string of the text's distinct characters, sorted: id ``i`` is
    ``vocabulary[i]``. ``sha256`` is the digest of the whole text (UTF-8), which tells a
    checkpoint whether it is scored on the text it was trained on.
    """

    train: np.ndarray
    test: np.ndarray
    vocabulary: str
    sha256: str
    description: str
    name: str = "text"

    @property
    def num_classes(self):
        return len(self.vocabulary)

    def __repr__(self):
        return (
            f"TextCorpus(train={len(self.train)}, test={len(self.test)}, "
            f"vocabulary={len(self.vocabulary)})"
        )


def load_text(path=None):
    """The characters of the UTF-8 file at ``path`` (default: :data:`STDLIB_FILES` of this
    Python's standard library, concatenated) as a :class:`TextCorpus`.

    A file that cannot be read, is empty, holds NUL bytes (binary data) or is not valid
    UTF-8 raises :class:`TextFileError` naming it.

    >>> corpus = load_text()
    >>> corpus.train.dtype, round(len(corpus.test) / (len(corpus.train) + len(corpus.test)), 3)
    (dtype('int64'), 0.1)
    >>> "def " in decode(corpus.train[:20_000], corpus.vocabulary)
    True
    """
    if path is None:
        text, about = _stdlib_text()
    else:
        path = os.fspath(path)
        text, about = _read_text(path), path
        if len(text) < 4:
            raise TextFileError(
                path, f"has {len(text)} characters, too few to hold out a test part"
            )
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    alphabet, ids = np.unique(codes, return_inverse=True)
    vocabulary = "".join(map(chr, alphabet))
    num_test = max(2, round(len(ids) * TEST_FRACTION))
    train, test = ids[:-num_test].astype(np.int64), ids[-num_test:].astype(np.int64)
    return TextCorpus(
        train=train,
        test=test,
        vocabulary=vocabulary,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        description=(
            f"text: {about}; {len(text):,} characters, vocabulary of {len(vocabulary)}; "
            f"{len(train):,} train / {len(test):,} test (the end)"
        ),
    )


def _read_text(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise TextFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not raw:
        raise TextFileError(path, "is empty")
    if b"\0" in raw:
        offset = raw.index(b"\0")
        raise TextFileError(path, f"is binary, not text (a NUL byte at offset {offset})")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TextFileError(
            path,
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            f"convert it, e.g. with iconv -t utf-8",
        ) from None


def _stdlib_text():
    """The files of :data:`STDLIB_FILES` that this Python has, and what they are."""
    root = sysconfig.get_paths()["stdlib"]
    parts, names = [], []
    for name in STDLIB_FILES:
        try:
            parts.append(_read_text(os.path.join(root, name)))
            names.append(name)
        except TextFileError:  # a trimmed installation: the others still make a corpus
            continue
    if not parts:
        raise TextFileError(
            root,
            "(the standard library) holds none of the source files of the default "
            f"corpus ({', '.join(STDLIB_FILES)}); pass a text file instead",
        )
    version = sysconfig.get_python_version()
    return "".join(parts), f"{len(names)} files of the Python {version} standard library"


def encode(text, vocabulary):
    """The ids of ``text``'s characters in ``vocabulary``; a ValueError names the
    characters that are not in it."""
    lookup = {char: i for i, char in enumerate(vocabulary)}
    missing = sorted({char for char in text if char not in lookup})
    if missing:
        raise ValueError(
            f"{len(missing)} character{'s' if len(missing) > 1 else ''} not in the "
            f"vocabulary ({len(vocabulary)} characters): {', '.join(map(repr, missing))}"
        )
    return np.array([lookup[char] for char in text], dtype=np.int64)


def decode(ids, vocabulary):
    """The text of ``ids`` in ``vocabulary``."""
    return "".join(vocabulary[i] for i in np.asarray(ids).reshape(-1))


class TextStreams:
    """``(inputs, targets)`` chunks of ``batch_size`` streams through ``ids``.

    The ids are cut into ``batch_size`` equal streams, one per row (the few left over at
    the end are dropped); each pass yields their next ``seq_len`` steps side by side, the
    targets being the inputs shifted by one character. Row ``b`` of every chunk continues
    row ``b`` of the chunk before, which is what lets a recurrent model carry its state.
    Every pass yields the same chunks; ``epoch`` counts completed passes, and is what
    :meth:`state_dict` saves.
    """

    def __init__(self, ids, batch_size, seq_len):
        self.ids = np.asarray(ids)
        for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TextStreams: {name} must be a positive int, got {value!r}")
        if self.ids.ndim != 1 or len(self.ids) <= batch_size:
            raise ValueError(
                f"TextStreams: {batch_size} streams need more than {batch_size} ids in a "
                f"1-D array, got shape {self.ids.shape}"
            )
        self.batch_size, self.seq_len = int(batch_size), int(seq_len)
        # Inputs and targets share the stream layout, one character apart.
        self.steps = (len(self.ids) - 1) // self.batch_size
        used = self.steps * self.batch_size
        self.inputs = self.ids[:used].reshape(self.batch_size, self.steps)
        self.targets = self.ids[1 : used + 1].reshape(self.batch_size, self.steps)
        self.epoch = 0

    @property
    def num_tokens(self):
        """The number of targets per pass."""
        return self.inputs.size

    def __len__(self):
        return -(-self.steps // self.seq_len)

    def __iter__(self):
        for start in range(0, self.steps, self.seq_len):
            stop = start + self.seq_len
            yield self.inputs[:, start:stop], self.targets[:, start:stop]
        self.epoch += 1

    def state_dict(self):
        return {
            "epoch": self.epoch,
            "num_tokens": self.num_tokens,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
        }

    def load_state_dict(self, state):
        """Continue after ``state["epoch"]`` passes; the layout must be the same."""
        for key in ("num_tokens", "batch_size", "seq_len"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"TextStreams.load_state_dict: saved {key}={state[key]!r} but these "
                    f"streams have {key}={getattr(self, key)}"
                )
        epoch = state["epoch"]
        if not isinstance(epoch, (int, np.integer)) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(
                f"TextStreams.load_state_dict: epoch must be an int >= 0, got {epoch!r}"
            )
        self.epoch = int(epoch)

    def __repr__(self):
        return (
            f"TextStreams(batch_size={self.batch_size}, seq_len={self.seq_len}, "
            f"steps={self.steps}, epoch={self.epoch})"
        )
