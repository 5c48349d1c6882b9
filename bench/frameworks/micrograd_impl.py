"""micrograd: Karpathy's scalar engine, one Value object per number.

micrograd 0.1.0 ships only + * ** and relu. tanh, exp and sin are added below in
micrograd's own style (a closure that accumulates the local derivative), so every op
costs what a native micrograd op costs. A shape-(8,) tensor is a list of 8 Values.
"""

import math
import sys
from importlib.metadata import version
from time import perf_counter

from micrograd.engine import Value

from bench.workloads import ADD, DEEP_CHAIN_FACTOR, MUL, small_ops_input

VERSION = version("micrograd")


def _unary(v, value, derivative, name):
    out = Value(value, (v,), name)

    def _backward():
        v.grad += derivative * out.grad

    out._backward = _backward
    return out


def _tanh(v):
    t = math.tanh(v.data)
    return _unary(v, t, 1 - t * t, "tanh")


def _exp(v):
    e = math.exp(v.data)
    return _unary(v, e, e, "exp")


def _sin(v):
    return _unary(v, math.sin(v.data), math.cos(v.data), "sin")


_OPS = (lambda v: v * MUL, lambda v: v + ADD, _tanh, _exp, _sin)


def make_small_ops(n):
    # The chain is deeper than Python's default recursion limit (1,000), which
    # micrograd's recursive topological sort would hit; raise it, as a user would.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * n))
    x0 = list(small_ops_input())

    def run():
        inputs = [Value(float(v)) for v in x0]
        xs = inputs
        for i in range(n):
            op = _OPS[i % 5]
            xs = [op(v) for v in xs]
        sum(xs[1:], xs[0]).backward()
        return sum(v.grad for v in inputs)

    run.note = "8 scalar Values per op; recursion limit raised"
    return run


def deep_chain(n):
    x0 = Value(1.0)
    t0 = perf_counter()
    x = x0
    for _ in range(n):
        x = x * DEEP_CHAIN_FACTOR
    t1 = perf_counter()
    # With the default recursion limit, micrograd's recursive topological sort raises
    # RecursionError here for any chain deeper than about 1,000 nodes.
    x.backward()
    t2 = perf_counter()
    return t1 - t0, t2 - t1, float(x0.grad)
