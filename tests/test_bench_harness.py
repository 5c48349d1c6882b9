"""The benchmark harness's own logic: how cases are timed and how rounds are combined.
(No timings are asserted: what is checked holds however fast the machine is.)"""

import pytest

from bench.runner import merge
from bench.worker import _timed
from bench.workloads import MEMORY_BATCH, min_seconds


def _round(median_s, status="ok", busy=0.0):
    return {"status": status, "median_s": median_s, "busy_share": busy}


def test_rounds_report_the_fastest_round_and_keep_every_round_median():
    merged = merge([_round(3.0, busy=0.1), _round(1.0), _round(2.0, busy=0.4)])
    assert merged["median_s"] == 1.0
    assert merged["round_medians_s"] == [3.0, 1.0, 2.0]
    assert merged["busy_share"] == 0.4  # the worst load seen over the rounds


def test_a_failed_round_fails_the_case():
    failed = {"status": "failed", "error": "boom"}
    assert merge([_round(1.0), failed, _round(2.0)]) is failed


def test_timed_runs_the_count_or_until_the_minimum_time_is_spent():
    calls = []
    assert len(_timed(lambda: calls.append(1), warmup=2, repeats=5)) == 5
    assert len(calls) == 7  # warm-up calls are run but not timed
    times = _timed(lambda: sum(range(20_000)), warmup=0, repeats=2, min_seconds=0.02)
    assert len(times) >= 2 and sum(times) >= 0.02


@pytest.mark.parametrize("workload, case, quick, expected", [
    ("small_ops", {"n": 1000}, False, 1.5),
    ("mlp_step", {"batch": 32}, False, 1.5),
    ("mlp_step", {"batch": MEMORY_BATCH}, False, 0.0),  # fixed steps: the memory figure
    ("small_ops", {"n": 1000}, True, 0.0),
    ("deep_chain", {"n": 100_000}, False, 0.0),
])
def test_only_the_short_cases_repeat_for_a_minimum_time(workload, case, quick, expected):
    assert min_seconds(workload, case, quick) == expected


def test_the_tape_floor_takes_the_same_steps_as_hand_numpy():
    """numpy_tape is only a fair floor if it trains the same network the same way."""
    import numpy as np

    from bench.frameworks import numpy_impl, numpy_tape_impl

    reference, tape = numpy_impl.make_mlp_step(8), numpy_tape_impl.make_mlp_step(8)
    reference_losses, tape_losses = zip(*[(reference(), tape()) for _ in range(3)])
    np.testing.assert_allclose(tape_losses, reference_losses, rtol=1e-5)
    assert reference_losses[0] != reference_losses[2]  # the steps do update the parameters
