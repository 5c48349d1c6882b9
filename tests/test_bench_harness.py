"""The benchmark harness's own logic: how cases are timed and how rounds are combined.
(No timings are asserted: what is checked holds however fast the machine is.)"""

import io

import numpy as np
import pytest

from bench import interleaved, report, runner
from bench.runner import confirmed, merge
from bench.worker import _timed, traced_peak_mib
from bench.workloads import MEMORY_BATCH, SEQUENCE, min_seconds


def _round(median_s, status="ok", busy=0.0):
    return {"status": status, "median_s": median_s, "busy_share": busy}


def test_rounds_report_the_fastest_round_and_keep_every_round_median():
    merged = merge([_round(3.0, busy=0.1), _round(1.0), _round(2.0, busy=0.4)])
    assert merged["median_s"] == 1.0
    assert merged["round_medians_s"] == [3.0, 1.0, 2.0]
    assert merged["busy_share"] == 0.4  # the worst load seen over the rounds


@pytest.mark.parametrize(
    "medians, expected",
    [
        ([1.0], True),  # one round: nothing to confirm
        ([1.3, 1.0, 1.04], True),  # the next fastest is within 5%
        ([1.0, 1.2, 1.3], False),
        ([2.0, 1.0], False),
    ],
)
def test_a_fastest_round_is_confirmed_by_another_within_five_percent(medians, expected):
    assert confirmed([_round(m) for m in medians]) is expected
    assert merge([_round(m) for m in medians]).get("confirmed", True) is expected


def _scripted_run(monkeypatch, script, rounds):
    """run_all over mlp_step with workers that return the scripted medians, per
    (framework, batch) in order (the last one repeats); returns each case's round medians."""
    calls = {}

    def fake_worker(python, spec, timeout):
        if spec.get("info"):
            return {"status": "ok"}
        key = (spec["framework"], spec["case"]["batch"])
        medians = script.get(key, [1.0])
        n = calls.setdefault(key, 0)
        calls[key] += 1
        return {"status": "ok", "median_s": medians[min(n, len(medians) - 1)]}

    monkeypatch.setattr(runner, "run_worker", fake_worker)
    monkeypatch.setattr(runner, "worker_python", lambda: "python")
    monkeypatch.setattr(runner, "wait_quiet", lambda limit, threshold: None)
    return runner.run_all(["numpy", "chainrule"], ["mlp_step"], rounds=rounds, log=io.StringIO())


def _by_case(data):
    return {(r["framework"], r["case"]["batch"]): r for r in data["results"]}


def test_unconfirmed_cases_run_more_rounds_of_every_framework(monkeypatch):
    # chainrule's b=32 rounds: 1.0 then 2.0 (unconfirmed), then 1.02 confirms the 1.0.
    results = _by_case(_scripted_run(monkeypatch, {("chainrule", 32): [1.0, 2.0, 1.02]}, 2))
    assert len(results["chainrule", 32]["round_medians_s"]) == 3
    assert len(results["numpy", 32]["round_medians_s"]) == 3  # the same chances for all
    assert len(results["numpy", 128]["round_medians_s"]) == 2  # confirmed: no more rounds
    assert results["chainrule", 32]["confirmed"] and results["chainrule", 32]["median_s"] == 1.0


def test_extra_rounds_stop_at_as_many_again(monkeypatch):
    data = _scripted_run(monkeypatch, {("numpy", 128): [1.0, 2.0]}, rounds=3)
    results = _by_case(data)
    assert len(results["numpy", 128]["round_medians_s"]) == 6
    assert results["numpy", 128]["confirmed"] is False
    # The report says which cases ran more rounds, and which fastest round stayed alone.
    text = report.as_text(data)
    assert "(mlp_step b=128: 6)" in text
    assert "fastest of 6 rounds unconfirmed (next 2.00x)" in text


def test_a_failed_round_fails_the_case():
    failed = {"status": "failed", "error": "boom"}
    assert merge([_round(1.0), failed, _round(2.0)]) is failed


def test_timed_runs_the_count_or_until_the_minimum_time_is_spent():
    calls = []
    assert len(_timed(lambda: calls.append(1), warmup=2, repeats=5)) == 5
    assert len(calls) == 7  # warm-up calls are run but not timed
    times = _timed(lambda: sum(range(20_000)), warmup=0, repeats=2, min_seconds=0.02)
    assert len(times) >= 2 and sum(times) >= 0.02


@pytest.mark.parametrize(
    "workload, case, quick, expected",
    [
        ("small_ops", {"n": 1000}, False, 1.5),
        ("mlp_step", {"batch": 32}, False, 1.5),
        ("mlp_step", {"batch": MEMORY_BATCH}, False, 0.0),  # fixed steps: the memory figure
        ("small_ops", {"n": 1000}, True, 0.0),
        ("deep_chain", {"n": 100_000}, False, 0.0),
    ],
)
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


def _case(framework, batch, rounds):
    return {
        "framework": framework,
        "workload": "mlp_step",
        "case": {"batch": batch},
        "status": "ok",
        "median_s": min(rounds),
        "round_medians_s": rounds,
        "version": "1",
    }


def test_paired_ratios_divide_within_each_round():
    # The machine runs twice as fast in round 2: the per-round ratios do not see it.
    assert report.paired_ratios(
        _case("chainrule", 32, [2.2, 1.1]), _case("numpy_recycled", 32, [2.0, 1.0])
    ) == pytest.approx([1.1, 1.1])
    # Rounds that do not line up (a failed framework ran none) give no pairs.
    assert (
        report.paired_ratios(_case("chainrule", 32, [1.0]), _case("numpy_recycled", 32, [1.0, 1.0]))
        is None
    )
    assert report.paired_ratios({"status": "failed"}, _case("numpy", 32, [1.0])) is None


def test_the_paired_table_shows_the_median_and_quartiles_over_rounds():
    reference = [1.0, 2.0, 1.0, 2.0, 1.0]
    chainrule = [1.0, 2.2, 1.1, 2.4, 1.3]  # ratios 1.0, 1.1, 1.1, 1.2, 1.3
    data = {
        "machine": {},
        "rounds": 5,
        "results": [
            _case("numpy", 32, [2.0] * 5),
            _case("numpy_recycled", 32, reference),
            _case("chainrule", 32, chainrule),
        ],
    }
    text = report.as_text(data)
    assert "over 5 rounds" in text
    row = next(line for line in text.splitlines() if line.startswith("chainrule") and "[" in line)
    assert "1.10 [1.05-1.25]" in row
    assert not any(line.startswith("numpy_recycled") and "[" in line for line in text.splitlines())


def test_interleaved_ratios_divide_within_each_turn():
    times = {"numpy_recycled": [1.0, 2.0, 1.0, 2.0], "chainrule": [1.1, 2.2, 1.2, 2.6]}
    ratios = interleaved.turn_ratios(times)
    assert list(ratios) == ["chainrule"]  # the reference is not its own row
    assert ratios["chainrule"] == pytest.approx([1.1, 1.1, 1.2, 1.3])
    text = interleaved.table({"32": times})
    row = next(line for line in text.splitlines() if line.startswith("chainrule"))
    assert "1.150 [1.100-1.275]" in row


def test_interleaved_blocks_time_every_member_in_every_turn():
    # The real steps at a small batch, two turns: every member is timed in each turn.
    times = interleaved.measure(8, members=("numpy_recycled", "chainrule"), turns=2, warmup=1)
    assert {name: len(t) for name, t in times.items()} == {"numpy_recycled": 2, "chainrule": 2}
    assert all(t > 0 for ts in times.values() for t in ts)


def test_the_mlp_table_shows_traced_arrays_where_they_were_counted():
    chainrule = {
        **_case("chainrule", MEMORY_BATCH, [1.0]),
        "peak_mem_mib": 9.0,
        "traced_peak_mib": 8.3,
    }
    torch = {**_case("torch", MEMORY_BATCH, [1.0]), "peak_mem_mib": 28.0}  # not NumPy's
    data = {"machine": {}, "results": [_case("numpy", MEMORY_BATCH, [1.0]), chainrule, torch]}
    _, headers, rows = report.mlp_table(report.Results(data))
    column = {row[0].split()[0]: dict(zip(headers, row)) for row in rows}
    rss, arrays = (h for h in headers if h.startswith("peak"))
    assert (column["chainrule"][rss], column["chainrule"][arrays]) == ("9", "8.30")
    assert (column["torch"][rss], column["torch"][arrays]) == ("28", "-")


def test_traced_peak_counts_what_a_step_allocates_and_keeps():
    kept = []

    def step():
        np.ones(1 << 18)  # 2 MiB, freed at once: counted in the peak only
        kept.append(np.ones(1 << 17))  # 1 MiB that stays

    peak, left = traced_peak_mib(step, steps=2)
    assert peak == pytest.approx(3.0, abs=0.05)  # the kept 1 MiB, then 2 MiB on top
    assert left == pytest.approx(2.0, abs=0.05)


# ----------------------------------------------------------------------- CNN workloads
def test_hand_numpy_cnn_step_trains_the_same_network_as_chainrule():
    """The im2col reference is only a fair one if it computes what the frameworks do."""
    from bench.frameworks import chainrule_impl, numpy_impl

    reference, chainrule = numpy_impl.make_cnn_step(4), chainrule_impl.make_cnn_step(4)
    reference_losses, losses = zip(*[(reference(), chainrule()) for _ in range(3)])
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-5)
    assert reference_losses[0] != reference_losses[2]  # the steps do update the parameters


def test_hand_numpy_cnn_step_matches_pytorch():
    pytest.importorskip("torch")
    from bench.frameworks import numpy_impl, torch_impl

    reference, torch_step = numpy_impl.make_cnn_step(4), torch_impl.make_cnn_step(4)
    reference_losses, losses = zip(*[(reference(), torch_step()) for _ in range(3)])
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-5)


def test_hand_numpy_conv2d_matches_chainrule_and_pytorch(monkeypatch):
    import bench.workloads as workloads
    from bench.frameworks import chainrule_impl, numpy_impl

    # A smaller problem of the same kind (same padding and kernel), so the check is quick.
    monkeypatch.setattr(workloads, "CONV_INPUT", (2, 3, 6, 5))
    monkeypatch.setattr(workloads, "CONV_WEIGHT", (4, 3, 3, 3))
    modules = [chainrule_impl]
    try:
        from bench.frameworks import torch_impl

        modules.append(torch_impl)
    except ImportError:
        pass
    for module in [numpy_impl] + modules:
        monkeypatch.setattr(module, "conv_problem", workloads.conv_problem)
    expected = numpy_impl.make_conv2d(2)()
    assert [a.shape for a in expected] == [(2, 4, 6, 5), (2, 3, 6, 5), (4, 3, 3, 3), (4,)]
    for module in modules:
        for got, want in zip(module.make_conv2d(2)(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_hand_im2col_and_col2im_are_adjoint():
    from bench.frameworks.numpy_impl import col2im, im2col

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 6, 5))  # channel-major: (C, N, H, W)
    cols = im2col(x, 3, 1)
    assert cols.shape == (3 * 9, 2 * 6 * 5)
    c = rng.standard_normal(cols.shape)
    assert np.sum(cols * c) == pytest.approx(np.sum(x * col2im(c, x.shape, 3, 1)), rel=1e-12)


def test_hand_max_pool_routes_the_gradient_to_each_maximum():
    from bench.frameworks.numpy_impl import max_pool, max_pool_backward

    a = np.array([[1.0, 5.0, 0.0, 0.0], [2.0, 3.0, 0.0, 0.0]]).reshape(1, 1, 2, 4)
    pooled = max_pool(a)
    np.testing.assert_array_equal(pooled.ravel(), [5.0, 0.0])
    grad = max_pool_backward(np.array([10.0, 7.0]).reshape(1, 1, 1, 2), a, pooled)
    # The second window is all zeros (as after relu): every tied place gets the gradient.
    np.testing.assert_array_equal(grad.reshape(2, 4), [[0, 10, 7, 7], [0, 0, 7, 7]])


def test_the_cnn_workloads_run_for_numpy_chainrule_and_torch_only():
    jobs = runner.plan(["numpy", "chainrule", "torch", "jax", "micrograd"], ["cnn_step", "conv2d"])
    assert {(name, workload) for name, workload, _, _ in jobs} == {
        (name, workload)
        for name in ("numpy", "chainrule", "torch")
        for workload in ("cnn_step", "conv2d")
    }
    assert [
        case for name, workload, case, _ in jobs if name == "numpy" and workload == "cnn_step"
    ] == [{"batch": 32}, {"batch": 128}]
    assert min_seconds("cnn_step", {"batch": 128}, quick=False) == 1.5


def _cnn(framework, workload, batch, rounds, **extra):
    return {
        "framework": framework,
        "workload": workload,
        "case": {"batch": batch},
        "status": "ok",
        "median_s": min(rounds),
        "round_medians_s": rounds,
        "version": "1",
        **extra,
    }


def _cnn_data():
    results = []
    for name, scale, peak, counter in [
        ("numpy", 0.010, 30.0, "tracemalloc"),
        ("chainrule", 0.015, 33.0, "tracemalloc"),
        ("torch", 0.005, 10.0, "torch profiler"),
    ]:
        for workload, batch in [("cnn_step", 32), ("cnn_step", 128), ("conv2d", 64)]:
            extra = (
                {"traced_peak_mib": peak, "traced_by": counter, "peak_mem_mib": 40.0}
                if batch == 128
                else {}
            )
            if name == "chainrule":
                extra["note"] = "allocator: recycled"
            # The machine halves its speed in the second round: paired ratios do not see it.
            results.append(_cnn(name, workload, batch, [scale, 2 * scale, scale, scale], **extra))
    return {"machine": {}, "rounds": 4, "results": results}


def _row(data, title_part, framework):
    headers, rows = next(
        (headers, rows) for title, headers, rows in report._tables(data) if title_part in title
    )
    return dict(zip(headers, next(r for r in rows if r[0].startswith(framework))))


def test_the_cnn_tables_pair_rounds_with_numpy_and_with_torch():
    data = _cnn_data()
    assert "cnn_step, conv2d: fastest of 4 rounds" in report.as_text(data)
    row = _row(data, "paired ratios to torch", "chainrule")
    assert row["LeNet b=32"] == row["LeNet b=128"] == row["conv2d"] == "3.00 [3.00-3.00]"
    assert _row(data, "paired ratios to numpy", "torch")["conv2d"] == "0.50 [0.50-0.50]"
    # The table of medians: the fastest round's, and its ratio to numpy's.
    row = _row(data, "median ms", "chainrule")
    assert row["conv2d ms"] == "15 (1.50x)"
    assert row["notes"] == "allocator: recycled"  # every column's note, said once


def test_the_cnn_memory_table_names_who_counted_and_divides_by_torch():
    _, headers, rows = report.cnn_memory_table(report.Results(_cnn_data()))
    column = {row[0].split()[0]: dict(zip(headers, row)) for row in rows}
    assert column["chainrule"]["peak arrays MiB"] == "33.00"
    assert column["chainrule"]["x torch"] == "3.30"
    assert column["chainrule"]["x numpy"] == "1.10"
    assert column["torch"]["counted by"] == "torch profiler"


def test_arrays_peak_uses_tracemalloc_or_the_frameworks_own_counter():
    from types import SimpleNamespace

    from bench.worker import arrays_peak

    def step():
        np.ones(1 << 18)  # 2 MiB

    numpy_like = SimpleNamespace()
    assert arrays_peak(numpy_like, step)["traced_by"] == "tracemalloc"
    own = SimpleNamespace(
        NUMPY_ARRAYS=False, ALLOCATION_COUNTER="counter", allocated_peak_mib=lambda step: 4.0
    )
    assert arrays_peak(own, step) == {"traced_peak_mib": 4.0, "traced_by": "counter"}
    assert arrays_peak(SimpleNamespace(NUMPY_ARRAYS=False), step) == {}

    def broken(step):
        raise AttributeError("no such profiler API")

    failed = arrays_peak(
        SimpleNamespace(
            NUMPY_ARRAYS=False, ALLOCATION_COUNTER="counter", allocated_peak_mib=broken
        ),
        step,
    )
    assert failed == {"traced_by": "not counted (AttributeError: no such profiler API)"}


def test_torch_peak_counts_what_a_step_allocates():
    torch = pytest.importorskip("torch")
    from bench.frameworks.torch_impl import allocated_peak_mib

    kept = []

    def step():
        torch.ones(1 << 19)  # 2 MiB of float32, freed at once
        kept.append(torch.ones(1 << 18))  # 1 MiB that stays

    assert allocated_peak_mib(step, steps=2) == pytest.approx(3.0, abs=0.05)


def test_interleaved_cnn_blocks_and_the_ratio_to_torch():
    times = interleaved.measure(
        4, members=("numpy_recycled", "chainrule"), turns=2, warmup=1, workload="cnn_step", block=3
    )
    assert {name: len(t) for name, t in times.items()} == {"numpy_recycled": 2, "chainrule": 2}
    made_up = {
        "numpy_recycled": [1.0, 2.0, 1.0, 2.0],
        "chainrule": [1.2, 2.4, 1.2, 2.4],
        "torch": [0.8, 1.6, 0.8, 1.6],
    }
    text = interleaved.table({"32": made_up}, workload="cnn_step")
    assert text.startswith("cnn_step in one process")
    row = next(line for line in text.splitlines() if line.startswith("chainrule / torch"))
    assert "1.500 [1.500-1.500]" in row


def test_the_sequence_workloads_run_for_chainrule_and_torch_only():
    jobs = runner.plan(["numpy", "chainrule", "torch", "jax"], list(SEQUENCE))
    assert {(name, workload) for name, workload, _, _ in jobs} == {
        (name, workload) for name in ("chainrule", "torch") for workload in SEQUENCE
    }
    assert all(min_seconds(workload, {"batch": 32}, quick=False) == 1.5 for workload in SEQUENCE)


@pytest.mark.parametrize("workload", SEQUENCE)
def test_chainrule_and_torch_sequence_steps_train_the_same_network(workload):
    pytest.importorskip("torch")
    from bench.frameworks import chainrule_impl, torch_impl

    ours = getattr(chainrule_impl, f"make_{workload}")(32)
    theirs = getattr(torch_impl, f"make_{workload}")(32)
    # The second loss follows one SGD step, so it checks the gradients too; float32
    # losses near 2.3 that agree to 1e-5 relative differ by rounding alone.
    for _ in range(2):
        assert ours() == pytest.approx(theirs(), rel=1e-5)


def test_the_sequence_tables_divide_by_torch():
    results = []
    for name, scale, lstm_check in [("chainrule", 0.03, 2.3), ("torch", 0.02, 2.31)]:
        for workload in SEQUENCE:
            check = lstm_check if workload == "lstm_step" else 1.0
            extra = (
                {"check": check, "note": "recycled"} if name == "chainrule" else {"check": check}
            )
            results.append(_cnn(name, workload, 32, [scale, 2 * scale, scale, scale], **extra))
    data = {"machine": {}, "rounds": 4, "results": results}
    row = _row(data, "median ms (x torch)", "chainrule")
    assert row["lstm_step ms"] == row["transformer_step ms"] == "30 (1.50x)"
    # A first loss that differs from torch's by more than rounding is named, with its
    # workload; a note every workload has is said once.
    assert row["notes"] == "recycled; lstm_step: result 2.3 != torch 2.31"
    row = _row(data, "paired ratios to torch", "chainrule")
    assert row["lstm_step"] == row["transformer_step"] == "1.50 [1.50-1.50]"
    assert "lstm_step, transformer_step: fastest of 4 rounds" in report.as_text(data)
