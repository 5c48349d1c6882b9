"""Data parallelism: averaged shard gradients equal the whole batch's gradient."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributed import DataParallel, World

WORKER = r"""
import numpy as np
import chainrule as cr
from chainrule.distributed import DataParallel, init

world = init()
assert world.size == 2, world.size
rng = np.random.default_rng(world.rank)          # different on purpose: broadcast must fix it
W1 = cr.tensor(rng.standard_normal((5, 4)), requires_grad=True)
W2 = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
parallel = DataParallel([W1, W2], world)

data = np.random.default_rng(42)                  # the same global batch on every rank
x, y = data.standard_normal((7, 5)), data.integers(0, 3, 7)

def loss(xb, yb):
    z = (cr.tensor(xb) @ W1).tanh() @ W2
    return -z.log_softmax()[np.arange(len(yb)), yb].mean()

xs, ys = world.shard((x, y))                      # 4 and 3 samples: unequal on purpose
loss(xs, ys).backward()
parallel.average_gradients(weight=len(ys))
averaged = [W1.grad.numpy().copy(), W2.grad.numpy().copy()]

W1.grad = W2.grad = None
loss(x, y).backward()
whole = [W1.grad.numpy(), W2.grad.numpy()]
error = max(np.abs(a - b).max() for a, b in zip(averaged, whole))
same = world.allreduce_sum([W1.data])[0] / 2
# One line from rank 0 (two ranks writing to one pipe can interleave their output).
unequal = float(not np.array_equal(same, W1.data))
worst, unequal = world.allreduce_sum([np.array([error, unequal])])[0]
if world.is_root:
    print(f"ranks {world.size} max-error {worst:.3e} unequal-params {int(unequal)}")
"""


def test_single_process_world_is_identity():
    world = World(None)
    assert (world.rank, world.size) == (0, 1)
    assert world.shard(np.arange(5)).tolist() == [0, 1, 2, 3, 4]
    w = cr.tensor(np.ones(3), requires_grad=True)
    (w * 2).sum().backward()
    DataParallel([w], world).average_gradients(weight=3)
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])


def test_single_process_weight_zero_gives_zeros_not_nan():
    w = cr.tensor(np.ones(3), requires_grad=True)
    unused = cr.tensor(np.ones(2), requires_grad=True)
    w.grad = cr.tensor(np.full(3, np.nan))  # e.g. the mean over an empty batch
    parallel = DataParallel([w, unused], World(None))
    parallel.average_gradients(weight=0)
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0, 0.0])
    assert unused.grad is None  # no rank had a gradient for it: none is made up


@pytest.mark.parametrize("weight", [-1, float("nan"), float("inf")])
def test_a_weight_that_is_not_a_sample_count_is_refused(weight):
    w = cr.tensor(np.ones(3), requires_grad=True)
    w.grad = cr.tensor(np.ones(3))
    with pytest.raises(ValueError, match="average_gradients: weight must be a finite number"):
        DataParallel([w], World(None)).average_gradients(weight=weight)


@pytest.mark.parametrize(
    "calls, message",
    [
        (
            [
                ["average_gradients", [["parameter 'w'", "float32 (3,)"]]],
                ["average_gradients", [["parameter 'w'", "float32 (4,)"]]],
            ],
            (
                "ranks differ in average_gradients: parameter 'w' is float32 (3,) on rank 0, "
                "float32 (4,) on rank 1"
            ),
        ),
        (
            [
                ["DataParallel", [["parameter 'a'", "float32 (3,)"]]],
                ["DataParallel", [["parameter 'b'", "float32 (3,)"]]],
            ],
            (
                "ranks differ in DataParallel: parameter 'a' (float32 (3,)) on rank 0, "
                "parameter 'b' (float32 (3,)) on rank 1"
            ),
        ),
        (
            [
                ["DataParallel", [["parameter 'a'", "float32 (3,)"]]],
                ["DataParallel", [["parameter 'a'", "float32 (3,)"]]],
                ["DataParallel", []],
            ],
            (
                "ranks differ in DataParallel: 1 on rank 0, 0 on rank 2; rank 2 has no "
                "parameter 'a' (float32 (3,))"
            ),
        ),
        (
            [["allreduce_sum", []], ["broadcast from rank 0", []]],
            (
                "the ranks called different collective operations: allreduce_sum on rank 0, "
                "broadcast from rank 0 on rank 1"
            ),
        ),
    ],
)
def test_a_mismatch_message_names_the_first_difference(calls, message):
    from chainrule.distributed.parallel import _first_difference

    assert _first_difference(calls).startswith(message)


def test_report_error_prints_in_a_single_process(capsys):
    cr.distributed.report_error("chainrule train: something failed")
    assert capsys.readouterr().err == "chainrule train: something failed\n"


def test_two_ranks_average_to_the_whole_batch_gradient(tmp_path):
    mpiexec = _mpiexec()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    result = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("ranks")]
    assert len(lines) == 1, result.stdout
    _, size, _, error, _, unequal = lines[0].split()
    assert size == "2"
    assert float(error) < 1e-12, lines[0]  # float64 (x2 ranks), same sums up to order
    assert unequal == "0", lines[0]  # rank 1 started from other values: broadcast fixed it


def _mpiexec():
    pytest.importorskip("mpi4py")  # the `mpi` extra, installed by `make test`
    mpiexec = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(mpiexec) if mpiexec.exists() else shutil.which("mpiexec")
    assert mpiexec, "mpi4py is installed but no mpiexec was found"
    return mpiexec


def test_chainrule_train_under_mpiexec_takes_the_single_process_steps(tmp_path):
    args = [
        "-m",
        "chainrule",
        "train",
        "--epochs",
        "2",
        "--batch-size",
        "33",
        "--hidden",
        "32",
    ]  # 33: the ranks get 17 and 16 samples of each batch
    single = subprocess.run(
        [sys.executable, *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr
    double = subprocess.run(
        [_mpiexec(), "-n", "2", sys.executable, *args, "--out", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert double.returncode == 0, double.stderr
    assert double.stdout.count("test accuracy") == 1  # rank 0 reports, rank 1 is quiet
    one = cr.load(tmp_path / "one" / "checkpoint.npz")["model"]
    two = cr.load(tmp_path / "two" / "checkpoint.npz")["model"]
    for name in one:
        # float32: only the order of the gradient sums differs between the two runs.
        np.testing.assert_allclose(two[name], one[name], atol=1e-5, err_msg=name)
