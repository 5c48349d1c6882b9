"""The MLP step of the NumPy-based frameworks, timed in one process in alternating blocks.

`python -m bench interleaved` runs this module in a fresh interpreter with single-threaded
BLAS. Every framework builds its step, then blocks of a few steps each run in turn, over
and over: each block's time over the reference's block of the same turn is one ratio,
measured within milliseconds of it. Where the suite's rounds sit seconds apart and a
shared machine changes speed within a minute, here both sides of a ratio see one state
of the machine; the spread of the ratios over the turns says how steady that was.

Only frameworks that run on this NumPy take part, all under one allocator policy
(chainrule.memory.reuse_freed_memory, which the reference applies, is process-wide).
Frameworks with thread pools of their own (PyTorch, JAX) are measured by the suite,
each in its own process.

`--only cnn_step` times the LeNet step the same way, with PyTorch eager among the
members: with OMP_NUM_THREADS=1 it starts no thread pool, so nothing of it wakes up
between blocks, and the issue's target (chainrule within 1.5x of PyTorch) is read off
ratios taken milliseconds apart.
"""

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
from time import perf_counter

from bench import env
from bench.frameworks import FRAMEWORKS
from bench.report import PAIRED_REFERENCE, spread
from bench.workloads import CNN_BATCHES, MLP_BATCHES

# The paired table's reference: hand NumPy under the allocator policy all members share.
REFERENCE = PAIRED_REFERENCE
MEMBERS = ("numpy_recycled", "numpy_tape", "chainrule", "chainrule_linear")
# Per workload: the function that builds a member's step, the members, the batches.
WORKLOADS = {
    "mlp_step": ("make_mlp_step", MEMBERS, MLP_BATCHES),
    "cnn_step": ("make_cnn_step", ("numpy_recycled", "chainrule", "torch"), CNN_BATCHES),
}
# One thread everywhere: a BLAS pool's wake-ups are noise, and every member shares it.
SINGLE_THREAD = {
    name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
}


TURNS = 30  # blocks of every member, in turn


def block_steps(batch):
    """Steps per block: about 2,000 samples, at least 2 steps."""
    return max(2, 2000 // batch)


def turn_ratios(block_times, reference=REFERENCE):
    """Each block's time over the reference's block in the same turn, per framework."""
    ref = block_times[reference]
    return {
        name: [t / r for t, r in zip(times, ref)]
        for name, times in block_times.items()
        if name != reference
    }


def measure(batch, members=None, turns=TURNS, warmup=20, workload="mlp_step", block=None):
    """Seconds per step of each member's block in every turn: ``{name: [s, ...]}``.
    ``members`` defaults to the workload's; a block is ``block`` steps, by default
    :func:`block_steps`."""
    steps = {}
    for name in members or WORKLOADS[workload][1]:
        module = importlib.import_module(f"bench.frameworks.{FRAMEWORKS[name].module}")
        steps[name] = getattr(module, WORKLOADS[workload][0])(batch)
    for step in steps.values():
        for _ in range(warmup):
            step()
    n = block or block_steps(batch)
    times = {name: [] for name in steps}
    for _ in range(turns):
        for name, step in steps.items():
            start = perf_counter()
            for _ in range(n):
                step()
            times[name].append((perf_counter() - start) / n)
    return times


def table(results, workload="mlp_step"):
    """Text table: per member, its ratio to the reference at every batch."""
    batches = sorted(results, key=int)
    names = [
        n
        for n in WORKLOADS[workload][1]
        if n != REFERENCE and all(n in results[b] for b in batches)
    ]
    lines = [
        f"{workload} in one process, alternating blocks, single-threaded: each "
        f"block's time over {REFERENCE}'s in the same turn, median [quartiles]"
    ]
    widths = [18] + [24] * len(batches)
    cells = [["framework"] + [f"b={b}" for b in batches]]
    cells += [
        [REFERENCE + " ms"]
        + [f"{1e3 * statistics.median(results[b][REFERENCE]):.3f}" for b in batches]
    ]
    for name in names:
        cells.append([name] + [spread(turn_ratios(results[b])[name], digits=3) for b in batches])
    if "torch" in names and "chainrule" in names:  # the target is this ratio
        cells.append(
            ["chainrule / torch"]
            + [
                spread(
                    [c / t for c, t in zip(results[b]["chainrule"], results[b]["torch"])], digits=3
                )
                for b in batches
            ]
        )
    lines += ["".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.interleaved")
    parser.add_argument("--batches", default=",".join(map(str, MLP_BATCHES)))
    parser.add_argument("--turns", type=int, default=TURNS)
    parser.add_argument("--workload", choices=list(WORKLOADS), default="mlp_step")
    args = parser.parse_args(argv)
    results = {
        b: measure(int(b), turns=args.turns, workload=args.workload)
        for b in args.batches.split(",")
    }
    print(json.dumps(results))
    return 0


def run(batches, turns, json_path=None, workload="mlp_step"):
    """Run :func:`main` in a fresh single-threaded interpreter; print (and save) the table.
    ``batches`` None means the workload's own."""
    python = env.worker_python()
    batches = WORKLOADS[workload][2] if batches is None else batches
    command = [
        str(python),
        "-m",
        "bench.interleaved",
        "--batches",
        ",".join(map(str, batches)),
        "--turns",
        str(turns),
        "--workload",
        workload,
    ]
    proc = subprocess.run(
        command, cwd=env.ROOT, capture_output=True, text=True, env={**os.environ, **SINGLE_THREAD}
    )
    if proc.returncode != 0:
        sys.exit(f"interleaved run failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    print(table(results, workload))
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=1))
        print(f"results saved to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
