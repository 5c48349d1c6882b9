"""Orchestration: one fresh interpreter per (framework, workload, case), results to JSON.

Every case runs in its own subprocess so that imports, allocator state, thread pools and
the peak-RSS high-water mark of one measurement never leak into another.
"""

import json
import os
import signal
import subprocess
import sys
import time

from bench.env import ROOT, worker_python
from bench.frameworks import FRAMEWORKS
from bench.worker import MARKER
from bench.workloads import SHORT, WORKLOADS, cases, min_seconds, repeats


def _worker_env():
    env = os.environ.copy()
    # The library's source tree first, so chainrule is found even when not installed.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")] if p
    )
    # A CPU benchmark: keep JAX from probing for accelerators at start-up.
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


def _tail(text):
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run_worker(python, spec, timeout):
    """Run one spec in a fresh interpreter; never raises, always returns a result."""
    cmd = [python, "-m", "bench.worker", json.dumps(spec)]
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=_worker_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timeout after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    # No result line: the interpreter itself died (segfault, stack overflow, OOM kill).
    if proc.returncode < 0:
        reason = f"crashed ({signal.Signals(-proc.returncode).name})"
    else:
        reason = f"exit {proc.returncode}"
    detail = _tail(proc.stderr)
    return {"status": "failed", "error": reason + (f": {detail}" if detail else "")}


def _cpu_times():
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait, total


def busy_share(seconds=0.25):
    """Share of the CPUs used by other processes, sampled while no worker runs;
    None where /proc/stat is unavailable."""
    try:
        idle0, total0 = _cpu_times()
        time.sleep(seconds)
        idle1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return round(1 - (idle1 - idle0) / max(total1 - total0, 1), 2)


def plan(frameworks, workloads):
    """The (framework, workload, case) triples to run, in the order they run. A workload
    a framework does not support is listed only when the registry says why."""
    jobs = []
    for workload in WORKLOADS:
        if workload not in workloads:
            continue
        for case in cases(workload):
            for name in frameworks:
                framework = FRAMEWORKS[name]
                if workload in framework.workloads:
                    jobs.append((name, workload, case, None))
                elif workload in framework.not_run:
                    jobs.append((name, workload, case, framework.not_run[workload]))
    return jobs


def describe(workload, case):
    return " ".join(f"{'b' if k == 'batch' else k}={v}" for k, v in case.items()) or "-"


def summary(result):
    if result["status"] != "ok":
        return f"{result['status']}: {result.get('error') or result.get('note', '')}"
    if "per_op_us" in result:
        return f"{result['per_op_us']:.3g} us/op"
    if "gflops" in result:
        return f"{result['gflops']:.1f} GFLOP/s"
    if "wall_s" in result:
        return f"{result['wall_s']:.1f} s, peak {result['peak_rss_mib']:.0f} MiB"
    return f"{result['median_s'] * 1e3:.3g} ms"


def wait_quiet(limit_s, threshold):
    """Wait up to limit_s seconds for other processes to leave the CPUs (nearly) idle;
    returns the last busy share measured."""
    deadline = time.monotonic() + limit_s
    while True:
        busy = busy_share()
        if busy is None or busy <= threshold or time.monotonic() >= deadline:
            return busy
        time.sleep(2)


# A case's fastest round counts as confirmed when another round of the same framework
# came within this share of it; otherwise one lucky or unlucky round decides its ratios.
CONFIRM = 0.05


def run_all(
    frameworks,
    workloads,
    quick=False,
    timeout=600,
    quiet_wait=0.0,
    busy_threshold=0.2,
    rounds=1,
    log=sys.stderr,
):
    """Run every job once; with ``rounds`` > 1, run the short timed workloads
    (``bench.workloads.SHORT``) that many times, all frameworks in turn each round, so
    that a burst of load on a shared machine hits one round of every framework rather
    than all of one framework's measurement. Each case reports its fastest round (see
    :func:`merge`). Then, up to ``rounds`` times more, every short case where some
    framework's fastest round is not yet confirmed (:data:`CONFIRM`) runs another round,
    again of every framework: the machine may have sped up or slowed down for minutes,
    and a ratio should not rest on the one round a framework happened to run fast."""
    python = worker_python()
    print(f"workers run under {python}", file=log, flush=True)
    machine = run_worker(python, {"info": True}, timeout=120)
    jobs = plan(frameworks, workloads)
    schedule = [(1, job) for job in jobs]
    for r in range(2, rounds + 1):
        schedule += [(r, job) for job in jobs if _repeated(job)]
    measured = {}

    def run(r, job, label):
        name, workload, case, not_run = job
        warmup, timed = repeats(workload, case, quick)
        busy = None
        if not_run:
            result = {"status": "n/a", "note": not_run}
        else:
            # Other processes compete for the same cores: record how much they were using.
            busy = wait_quiet(quiet_wait, busy_threshold)
            spec = {
                "framework": name,
                "workload": workload,
                "case": case,
                "warmup": warmup,
                "repeats": timed,
                "timeout": timeout,
                "min_seconds": min_seconds(workload, case, quick),
            }
            result = run_worker(python, spec, timeout)
        measured.setdefault(_key(job), []).append(
            {
                "framework": name,
                "workload": workload,
                "case": case,
                "warmup": warmup,
                "repeats": timed,
                "busy_share": busy,
                **result,
            }
        )
        tag = f" (round {r})" if rounds > 1 and workload in SHORT else ""
        print(
            f"[{label}] {name:12s} {workload:12s} {describe(workload, case):10s}"
            f" {summary(result)}{tag}",
            file=log,
            flush=True,
        )

    for i, (r, job) in enumerate(schedule, 1):
        run(r, job, f"{i:2d}/{len(schedule)}")
    for r in range(rounds + 1, 2 * rounds + 1) if rounds > 1 else ():
        open_cases = {
            (job[1], describe(job[1], job[2]))
            for job in jobs
            if _repeated(job) and not confirmed(measured[_key(job)])
        }
        if not open_cases:
            break
        for job in jobs:
            if _repeated(job) and (job[1], describe(job[1], job[2])) in open_cases:
                run(r, job, "extra")
    results = [merge(runs) for runs in measured.values()]
    return {
        "machine": machine,
        "quick": quick,
        "rounds": rounds,
        "python": python,
        "results": results,
    }


def _repeated(job):
    return job[1] in SHORT and not job[3]


def _key(job):
    name, workload, case, _ = job
    return name, workload, describe(workload, case)


def confirmed(runs):
    """Whether the fastest of these rounds has another within :data:`CONFIRM` of it
    (a failed case, or a single round, has nothing to confirm)."""
    medians = sorted(run["median_s"] for run in runs if run["status"] == "ok")
    if len(medians) < 2 or len(medians) < len(runs):
        return True
    return medians[1] <= medians[0] * (1 + CONFIRM)


def merge(runs):
    """One result from a case's rounds: the fastest round, plus every round's median
    (``round_medians_s``) and whether the fastest was confirmed by another. Load from
    other processes only ever adds time, so the fastest round is the least disturbed one.
    A failed round makes the case failed."""
    for run in runs:
        if run["status"] != "ok":
            return run
    if len(runs) == 1:
        return runs[0]
    chosen = min(runs, key=lambda run: run["median_s"])
    busy = [run["busy_share"] for run in runs if run["busy_share"] is not None]
    return {
        **chosen,
        "round_medians_s": [run["median_s"] for run in runs],
        "confirmed": confirmed(runs),
        "busy_share": max(busy) if busy else None,
    }


def save_json(data, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
