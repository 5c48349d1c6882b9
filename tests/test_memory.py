"""Memory of a training step: what it allocates at its peak, and what it leaves behind.

Measured with tracemalloc, which NumPy reports its array buffers to: the counts are
bytes asked for, the same on every run, unlike the process's RSS (which depends on
what the allocator keeps or hands back to the OS).
"""

import weakref

import numpy as np

import chainrule as cr
from bench.frameworks import chainrule_impl, numpy_impl
from bench.worker import traced_peak_mib
from bench.workloads import MEMORY_BATCH


def _traced_step(step):
    """Peak and remaining MiB of three steps, after one that sets up what persists
    (gradients' buffers, caches)."""
    step()
    return traced_peak_mib(step, steps=3)


def test_an_mlp_step_peaks_within_a_fifth_of_hand_written_numpy():
    # The benchmark's own two steps (784-256-256-10, float32, softmax cross-entropy, SGD):
    # the graph may hold what the hand-written formulas hold, and little more.
    hand_peak, _ = _traced_step(numpy_impl.make_mlp_step(MEMORY_BATCH))
    chainrule_peak, left = _traced_step(chainrule_impl.make_mlp_step(MEMORY_BATCH))
    activation = MEMORY_BATCH * 256 * 4 / 2**20  # one hidden layer's float32 output, MiB
    assert hand_peak > 4 * activation  # the count sees the arrays
    assert chainrule_peak <= 1.2 * hand_peak
    assert left < activation / 100  # each step frees all it allocated


def test_an_mlp_steps_intermediate_arrays_are_released_by_backward():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((16, 8)))
    w1, w2 = (
        cr.tensor(rng.standard_normal(shape), requires_grad=True) for shape in ((8, 8), (8, 3))
    )
    z = x @ w1
    h = z.relu()
    logits = h @ w2
    loss = cr.nn.functional.cross_entropy(logits, cr.tensor(np.array([0, 1, 2, 0] * 4)))
    intermediates = [weakref.ref(t.numpy(force_writable=True)) for t in (z, h, logits)]
    del z, h, logits
    assert all(ref() is not None for ref in intermediates)  # the graph holds them
    loss.backward()
    assert all(ref() is None for ref in intermediates)  # reference counting freed them
    assert w1.grad.shape == (8, 8) and w2.grad.shape == (8, 3)


def test_the_first_backward_applies_the_allocator_policy_once(monkeypatch):
    import chainrule.memory as memory

    calls = []
    monkeypatch.setattr(memory, "reuse_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(memory, "decided", False)
    monkeypatch.setattr(memory, "automatic", True)
    for _ in range(3):
        (cr.tensor([1.0, 2.0], requires_grad=True) * 2).sum().backward()
    assert calls == [1]


def test_the_allocator_policy_can_be_switched_off(monkeypatch):
    import chainrule.memory as memory

    calls = []
    monkeypatch.setattr(memory, "reuse_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(memory, "decided", False)
    monkeypatch.setattr(memory, "automatic", False)
    (cr.tensor([1.0], requires_grad=True) * 2).sum().backward()
    assert calls == [] and memory.decided
