"""Benchmark suite: chainrule against hand-written NumPy and other autodiff libraries.

Run `python -m bench setup` once, then `python -m bench` (see `python -m bench --help`).
"""
