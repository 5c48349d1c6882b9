"""Runs one case of one workload for one framework, in a fresh interpreter.

Invoked by the runner as `python -m bench.worker '<json spec>'`. Prints one line
`BENCH_RESULT <json>` on stdout; anything else it prints is ignored.
"""

import functools
import gc
import importlib
import json
import os
import platform
import resource
import statistics
import sys
import tracemalloc
from datetime import datetime, UTC
from time import perf_counter

import numpy as np

from bench.frameworks import FRAMEWORKS
from bench.workloads import CNN_MEMORY_BATCH, MEMORY_BATCH, conv_check

MARKER = "BENCH_RESULT "


def _timed(fn, warmup, repeats, min_seconds=0.0):
    """Times of ``repeats`` calls after ``warmup`` untimed ones, and of more calls until
    the timed ones add up to ``min_seconds``."""
    for _ in range(warmup):
        fn()
    times, total = [], 0.0
    while len(times) < repeats or total < min_seconds:
        t0 = perf_counter()
        fn()
        times.append(perf_counter() - t0)
        total += times[-1]
    return times


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def traced_peak_mib(step, steps=3):
    """Peak and remaining MiB that ``steps`` calls of ``step`` allocate above the state
    they start from, as tracemalloc counts them: bytes asked for, which NumPy reports for
    its arrays, the same on every run and whatever the allocator keeps (unlike RSS)."""
    gc.collect()
    tracemalloc.start()
    try:
        resting = tracemalloc.get_traced_memory()[0]
        for _ in range(steps):
            step()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - resting) / 2**20, (current - resting) / 2**20


def _step_result(run, check, warmup, repeats, min_seconds):
    """Time ``run`` after the call that gave ``check`` (it counts as the first warm-up
    call): the median, every time, the cross-check value and the framework's note."""
    times = _timed(run, max(warmup - 1, 0), repeats, min_seconds)
    return {
        "median_s": statistics.median(times),
        "times": times,
        "check": check,
        "note": getattr(run, "note", ""),
    }


def run_mlp_step(module, case, warmup, repeats, timeout, min_seconds=0.0):
    step = module.make_mlp_step(case["batch"])
    baseline = _peak_rss_mib()
    # The first step's loss is the same for every framework (same seed and inputs), so
    # it cross-checks the implementations. It counts as the first warm-up step.
    loss = step()
    result = _step_result(step, loss, warmup, repeats, min_seconds)
    if case["batch"] == MEMORY_BATCH:
        result["peak_mem_mib"] = _peak_rss_mib() - baseline
        result["mem_steps"] = max(warmup, 1) + repeats
        if getattr(module, "NUMPY_ARRAYS", True):  # tracemalloc sees no other allocator
            result["traced_peak_mib"] = traced_peak_mib(step)[0]
    return result


def arrays_peak(module, step):
    """The peak MiB of arrays three calls of ``step`` allocate, and who counted them:
    tracemalloc for NumPy's arrays, the framework's own counter (``allocated_peak_mib``)
    where its arrays live elsewhere; nothing where neither can see them."""
    if getattr(module, "NUMPY_ARRAYS", True):
        return {"traced_peak_mib": traced_peak_mib(step)[0], "traced_by": "tracemalloc"}
    counter = getattr(module, "allocated_peak_mib", None)
    if counter is None:
        return {}
    try:
        return {"traced_peak_mib": counter(step), "traced_by": module.ALLOCATION_COUNTER}
    except Exception as exc:  # a profiler API that changed must not fail the timing
        return {"traced_by": f"not counted ({_error(exc)})"}


def run_cnn_step(module, case, warmup, repeats, timeout, min_seconds=0.0):
    step = module.make_cnn_step(case["batch"])
    baseline = _peak_rss_mib()
    loss = step()  # same seed and inputs everywhere: the first loss cross-checks
    result = _step_result(step, loss, warmup, repeats, min_seconds)
    if case["batch"] == CNN_MEMORY_BATCH:
        result["peak_mem_mib"] = _peak_rss_mib() - baseline
        result.update(arrays_peak(module, step))
    return result


def run_sequence_step(make, module, case, warmup, repeats, timeout, min_seconds=0.0):
    """Time ``module.<make>(batch)``'s training step (lstm_step, transformer_step)."""
    step = getattr(module, make)(case["batch"])
    loss = step()  # same seed and inputs everywhere: the first loss cross-checks
    return _step_result(step, loss, warmup, repeats, min_seconds)


def run_conv2d(module, case, warmup, repeats, timeout, min_seconds=0.0):
    run = module.make_conv2d(case["batch"])
    check = conv_check(*run())
    return _step_result(run, check, warmup, repeats, min_seconds)


def run_small_ops(module, case, warmup, repeats, timeout, min_seconds=0.0):
    run = module.make_small_ops(case["n"])
    check = run()
    times = _timed(run, max(warmup - 1, 0), repeats, min_seconds)
    median = statistics.median(times)
    return {
        "median_s": median,
        "times": times,
        "check": check,
        "per_op_us": median / case["n"] * 1e6,
        "note": getattr(run, "note", ""),
    }


def run_deep_chain(module, case, warmup, repeats, timeout, min_seconds=0.0):
    n = case["n"]
    for _ in range(warmup):
        module.deep_chain(n)
    # A slow framework takes minutes per run at n = 10^6: once a fifth of the time limit
    # is spent, the median is taken over the runs done so far (at least one).
    runs, start = [], perf_counter()
    while len(runs) < repeats and (not runs or perf_counter() - start < timeout / 5):
        runs.append(module.deep_chain(n))
    forward = statistics.median(r[0] for r in runs)
    backward = statistics.median(r[1] for r in runs)
    return {
        "forward_s": forward,
        "backward_s": backward,
        "check": runs[-1][2],
        "per_op_us": backward / n * 1e6,
        "times": [r[1] for r in runs],
    }


def run_gemm(module, case, warmup, repeats, timeout, min_seconds=0.0):
    times = _timed(module.make_gemm(case["n"]), warmup, repeats)
    median = statistics.median(times)
    flops = 2 * case["n"] ** 3
    # The best run is the ceiling: on a shared machine a median can be dragged down by
    # other processes, which would make the ceiling lower than what a step achieves.
    return {
        "median_s": median,
        "times": times,
        "gflops": flops / median / 1e9,
        "best_gflops": flops / min(times) / 1e9,
    }


def run_train_digits(module, case, warmup, repeats, timeout, min_seconds=0.0):
    # Leave the worker time to report before the runner's own limit strikes.
    return module.train_digits(max(timeout - 15, 1))


RUNNERS = {
    "mlp_step": run_mlp_step,
    "small_ops": run_small_ops,
    "deep_chain": run_deep_chain,
    "gemm": run_gemm,
    "cnn_step": run_cnn_step,
    "conv2d": run_conv2d,
    "lstm_step": functools.partial(run_sequence_step, "make_lstm_step"),
    "transformer_step": functools.partial(run_sequence_step, "make_transformer_step"),
    "train_digits": run_train_digits,
}


def _error(exc):
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def run(spec):
    framework = FRAMEWORKS[spec["framework"]]
    try:
        module = importlib.import_module(f"bench.frameworks.{framework.module}")
    except ModuleNotFoundError as exc:
        if framework.package and (exc.name or "").split(".")[0] == framework.package:
            return {"status": "skipped", "note": f"{framework.package} is not installed"}
        return {"status": "failed", "error": _error(exc)}
    except Exception as exc:  # a half-written library fails in all sorts of ways
        return {"status": "failed", "error": _error(exc)}
    try:
        result = RUNNERS[spec["workload"]](
            module,
            spec["case"],
            spec["warmup"],
            spec["repeats"],
            spec["timeout"],
            spec.get("min_seconds", 0.0),
        )
    except Exception as exc:
        return {"status": "failed", "error": _error(exc), "version": module.VERSION}
    result.setdefault("status", "ok")
    result["version"] = module.VERSION
    return result


def machine_info():
    """The machine line of the report, as seen by the interpreter that runs workloads."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = "unknown"
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{deps.get('name', '?')} {deps.get('version', '')}".strip()
    except Exception:  # older NumPy has no dict mode; the BLAS is then left out
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "blas": blas,
        "python": platform.python_version(),
        "python_path": sys.executable,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main():
    spec = json.loads(sys.argv[1])
    result = machine_info() if spec.get("info") else run(spec)
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
