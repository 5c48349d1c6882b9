"""Nothing hangs under mpiexec, and nothing is mixed up.

Every test runs a real ``mpiexec -n 2`` job with a timeout: a job that hangs fails the
test (and is ended, with its ranks). Each asserts that the job ended with the right
status and printed its error once, not once per rank.
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mpi4py", reason="the `mpi` extra (mpi4py) is not installed")

MPIEXEC = Path(sys.executable).parent / "mpiexec"
MPIEXEC = str(MPIEXEC) if MPIEXEC.exists() else shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec next to Python or on PATH")

# Far above the few seconds a failing job takes: only a hang gets near it.
TIMEOUT = 120

HEADER = """\
import sys
import numpy as np
import chainrule as cr
from chainrule.distributed import DataParallel, DistributedError, init, report_error

world = init()
assert world.size == 2, world.size
rank = world.rank
"""


def run_job(tmp_path, body, ranks=None, timeout=TIMEOUT):
    """Run ``body`` (after HEADER) on two ranks; return (status, stdout, stderr).

    ``ranks`` gives per-rank command lines instead (MPMD). A job still running after
    ``timeout`` seconds fails the test and is interrupted: mpiexec ends its ranks.
    """
    if ranks is None:
        script = tmp_path / "job.py"
        script.write_text(HEADER + textwrap.dedent(body))
        command = [MPIEXEC, "-n", "2", sys.executable, str(script)]
    else:
        command = [MPIEXEC]
        for i, line in enumerate(ranks):
            command += ([":"] if i else []) + ["-n", "1", sys.executable, *line]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _interrupt(process)
        pytest.fail(f"the job hung (ended after {timeout} s)\nstdout:\n{out}\nstderr:\n{err}")
    return process.returncode, out, err


def _interrupt(process):
    # Ctrl-C twice: mpiexec passes the first on to the ranks and ends them on the second.
    for _ in range(2):
        process.send_signal(signal.SIGINT)
        try:
            return process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    os.killpg(process.pid, signal.SIGKILL)
    return process.communicate()


def lines_with(text, output):
    return [line for line in output.splitlines() if text in line]


# ------------------------------------------------------- item 5: failures end the job


@pytest.mark.parametrize("failing", [0, 1])
def test_an_exception_on_one_rank_ends_the_job_and_prints_once(tmp_path, failing):
    status, _, err = run_job(
        tmp_path,
        f"""
        w = cr.tensor(np.ones(3), requires_grad=True)
        parallel = DataParallel([w], world)
        if rank == {failing}:
            raise RuntimeError("disk " + "on fire")    # the other rank keeps stepping
        while True:
            world.allreduce_sum([np.ones(3)])
        """,
    )
    assert status != 0
    assert len(lines_with("RuntimeError: disk on fire", err)) == 1, err
    assert "Traceback" in err


def test_the_same_exception_on_every_rank_prints_once(tmp_path):
    status, _, err = run_job(
        tmp_path,
        """
        world.allreduce_sum([np.ones(3)])
        raise ValueError("bad " + "setting")
        """,
    )
    assert status != 0
    assert len(lines_with("ValueError: bad setting", err)) == 1, err


def test_different_exceptions_are_each_printed_once(tmp_path):
    status, _, err = run_job(
        tmp_path,
        """
        world.allreduce_sum([np.ones(3)])
        raise ValueError(f"bad " + f"setting on rank {rank}")
        """,
    )
    assert status != 0
    assert len(lines_with("ValueError: bad setting on rank 0", err)) == 1, err
    assert len(lines_with("ValueError: bad setting on rank 1", err)) == 1, err


@pytest.mark.parametrize("failing", [0, 1])
def test_a_reported_error_and_exit_status_end_the_job(tmp_path, failing):
    # What the command line does: print one line, return a status (a full disk on rank 0).
    status, _, err = run_job(
        tmp_path,
        f"""
        if rank == {failing}:
            report_error("chainrule train: " + "no space left on device")
            sys.exit(3)
        while True:
            world.allreduce_sum([np.ones(3)])
        """,
    )
    assert status != 0
    assert len(lines_with("no space left on device", err)) == 1, err


def test_an_error_reported_by_every_rank_prints_once(tmp_path):
    status, _, err = run_job(
        tmp_path,
        """
        report_error("chainrule train: " + "--out is read-only")
        sys.exit(1)
        """,
    )
    assert status != 0
    assert len(lines_with("--out is read-only", err)) == 1, err


def test_an_error_before_init_on_one_rank_ends_the_job(tmp_path):
    # A bad command line seen by one rank, reported before the job's first collective.
    (tmp_path / "early.py").write_text(
        textwrap.dedent("""
        import sys
        import numpy as np
        import chainrule as cr
        from chainrule.distributed import DataParallel, init, report_error

        if "--bogus" in sys.argv:
            report_error("chainrule: unrecognized arguments: " + "--bogus")
            sys.exit(2)
        world = init()
        parallel = DataParallel([cr.tensor(np.ones(3), requires_grad=True)], world)
        """)
    )
    status, _, err = run_job(tmp_path, None, ranks=[["early.py"], ["early.py", "--bogus"]])
    assert status != 0
    assert len(lines_with("unrecognized arguments: --bogus", err)) == 1, err


@pytest.mark.parametrize("early", [0, 1])
def test_a_rank_that_finishes_early_ends_the_job_and_says_why(tmp_path, early):
    # Different numbers of epochs or batches: one rank is done, the other waits for it.
    status, _, err = run_job(
        tmp_path,
        f"""
        w = cr.tensor(np.ones(3), requires_grad=True)
        parallel = DataParallel([w], world)
        for step in range(3 if rank == {early} else 4):
            (w * 2).sum().backward()
            parallel.average_gradients(weight=1)
            w.grad = None
        """,
    )
    assert status != 0
    # Which collective the waiting rank was in depends on timing (a busy machine can hold
    # it before the structure check): the message names the rank that left, once.
    said = lines_with(f"rank {early} exited while rank {1 - early} waited for it", err)
    assert len(said) == 1, err


def test_a_failed_rank_does_not_wait_forever_for_a_busy_one(tmp_path):
    # Rank 0 never reaches a collective (here: a long sleep); rank 1 fails meanwhile.
    status, _, err = run_job(
        tmp_path,
        """
        import time
        if rank == 1:
            raise RuntimeError("disk " + "on fire")
        time.sleep(3600)
        """,
    )
    assert status != 0
    assert len(lines_with("RuntimeError: disk on fire", err)) == 1, err


def test_ranks_that_finish_together_exit_cleanly(tmp_path):
    status, out, err = run_job(
        tmp_path,
        """
        import time
        if rank == 0:
            time.sleep(1)  # rank 0 writes its files last: rank 1 waits at exit, quietly
        total = world.allreduce_sum([np.ones(3)])[0]
        # One file per rank: two ranks printing to one pipe can interleave mid-line.
        with open(f"rank{rank}.txt", "w") as f:
            f.write(f"rank {rank} sum {total.tolist()}")
        """,
    )
    assert status == 0, err
    results = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert results == ["rank 0 sum [2.0, 2.0, 2.0]", "rank 1 sum [2.0, 2.0, 2.0]"]
    assert out == "" and err == ""


def test_a_rank_killed_by_a_signal_ends_the_job(tmp_path):
    status, _, _ = run_job(
        tmp_path,
        """
        import os, signal
        world.allreduce_sum([np.ones(3)])
        if rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        while True:
            world.allreduce_sum([np.ones(3)])
        """,
    )
    assert status != 0


def test_ranks_in_different_collectives_raise_on_every_rank(tmp_path):
    status, _, err = run_job(
        tmp_path,
        """
        w = cr.tensor(np.ones(3), requires_grad=True)
        parallel = DataParallel([w], world)
        (w * 2).sum().backward()
        if rank == 0:
            world.allreduce_sum([np.ones(1)])   # a loss to log: rank 1 skipped it
        parallel.average_gradients()
        """,
    )
    assert status != 0
    said = lines_with(
        "chainrule.distributed: the ranks called different collective "
        "operations: allreduce_sum on rank 0, average_gradients on rank 1",
        err,
    )
    assert len(said) == 1, err
    assert "Message truncated" not in err


def test_a_mismatch_can_be_caught_on_every_rank(tmp_path):
    status, out, err = run_job(
        tmp_path,
        """
        try:
            world.allreduce_sum([np.ones(3 + rank)])
        except DistributedError as exc:
            caught = str(exc)
        assert world.allreduce_sum([np.ones(2)])[0].tolist() == [2.0, 2.0]  # still usable
        if rank == 0:
            print(caught)
        """,
    )
    assert status == 0, err
    assert out.strip() == (
        "ranks differ in allreduce_sum: array 0 is float64 (3,) on rank 0, float64 (4,) on rank 1"
    )


# ---------------------------------------- item 3: parameters and gradients never mixed


def test_different_parameters_at_wrap_time_raise_on_every_rank(tmp_path):
    status, _, err = run_job(
        tmp_path,
        """
        layer = cr.nn.Linear(4, 3) if rank == 0 else cr.nn.Linear(3, 4)
        DataParallel(layer, world)
        """,
    )
    assert status != 0
    said = lines_with(
        "chainrule.distributed: ranks differ in DataParallel: parameter "
        "'weight' is float32 (3, 4) on rank 0, float32 (4, 3) on rank 1",
        err,
    )
    assert len(said) == 1, err


@pytest.mark.parametrize(
    "rank1, difference",
    [
        (
            "[a, b, cr.tensor(np.ones(2), requires_grad=True)]",
            (
                "ranks differ in DataParallel: 2 on rank 0, 3 on rank 1; rank 0 has no "
                "parameter '2' (float64 (2,))"
            ),
        ),
        (
            "[a, cr.tensor(np.ones(4), requires_grad=False)]",
            "parameter '1' is float64 (4,) on rank 0, float64 (4,) without gradient on rank 1",
        ),
        (
            "[a, cr.tensor(np.ones(4, np.float32), requires_grad=True)]",
            "parameter '1' is float64 (4,) on rank 0, float32 (4,) on rank 1",
        ),
    ],
)
def test_wrap_time_check_names_the_first_difference(tmp_path, rank1, difference):
    status, _, err = run_job(
        tmp_path,
        f"""
        a = cr.tensor(np.ones(3), requires_grad=True)
        b = cr.tensor(np.ones(4), requires_grad=True)
        DataParallel([a, b] if rank == 0 else {rank1}, world)
        """,
    )
    assert status != 0
    assert len(lines_with(difference, err)) == 1, err


def test_gradients_held_by_different_ranks_are_not_mixed_up(tmp_path):
    # Rank 0 has a gradient for a only, rank 1 for b only (equal sizes): each rank adds
    # zeros for what it lacks, so a.grad = (100 + 0) / 2 and b.grad = (0 + 10) / 2.
    status, out, err = run_job(
        tmp_path,
        """
        a = cr.tensor(np.ones(3), requires_grad=True)
        b = cr.tensor(np.ones(3), requires_grad=True)
        c = cr.tensor(np.ones(3), requires_grad=True)   # no rank has a gradient for c
        parallel = DataParallel([a, b, c], world)
        ((a * 100).sum() if rank == 0 else (b * 10).sum()).backward()
        parallel.average_gradients(weight=1)
        both = world.allreduce_sum([a.grad.numpy(), b.grad.numpy()])
        if rank == 0:
            print("a", a.grad.numpy().tolist(), "b", b.grad.numpy().tolist(),
                  "c", c.grad, "same", all((s == 2 * g).all() for s, g in
                                           zip(both, [a.grad.numpy(), b.grad.numpy()])))
        """,
    )
    assert status == 0, err
    assert out.strip() == "a [50.0, 50.0, 50.0] b [5.0, 5.0, 5.0] c None same True"


def test_gradients_of_different_sizes_do_not_truncate(tmp_path):
    # Rank 1 has no gradient for the big parameter: it used to send fewer numbers.
    status, out, err = run_job(
        tmp_path,
        """
        small = cr.tensor(np.ones(2), requires_grad=True)
        big = cr.tensor(np.ones(1000), requires_grad=True)
        parallel = DataParallel([small, big], world)
        loss = (small * 4).sum() + ((big * 6).sum() if rank == 0 else 0)
        loss.backward()
        parallel.average_gradients(weight=1)
        if rank == 0:
            print(small.grad.numpy().tolist(), set(big.grad.numpy().tolist()))
        """,
    )
    assert status == 0, err
    assert out.strip() == "[4.0, 4.0] {3.0}"
    assert "truncated" not in err


def test_a_rank_without_samples_adds_nothing_and_no_nan(tmp_path):
    status, out, err = run_job(
        tmp_path,
        """
        w = cr.tensor(np.ones(3), requires_grad=True)
        parallel = DataParallel([w], world)
        x = np.arange(6.0).reshape(2, 3)[:2 if rank == 0 else 0]   # rank 1: no samples
        with np.errstate(all="ignore"):
            (cr.tensor(x) * w).sum(axis=1).mean().backward()     # the mean of nothing
        parallel.average_gradients(weight=len(x))
        once = w.grad.numpy().tolist()
        w.grad = None
        parallel.average_gradients(weight=0)                     # no samples anywhere
        if rank == 0:
            print(once, w.grad)
        """,
    )
    assert status == 0, err
    assert out.strip() == "[1.5, 2.5, 3.5] None"


def test_a_parameter_changed_after_wrapping_is_caught_at_the_next_step(tmp_path):
    status, _, err = run_job(
        tmp_path,
        """
        w = cr.tensor(np.ones(3), requires_grad=True)
        parallel = DataParallel([w], world)
        if rank == 1:
            w.data = np.ones(4)
        (w * 2).sum().backward()
        parallel.average_gradients()
        """,
    )
    assert status != 0
    said = lines_with(
        "ranks differ in average_gradients: parameter '0' is float64 (3,) on "
        "rank 0, float64 (4,) on rank 1",
        err,
    )
    assert len(said) == 1, err


# ------------------------------------------------------------------- the command line

TRAIN = ["-m", "chainrule", "train", "--dataset", "iris", "--epochs", "3", "--hidden", "8"]


def test_train_with_a_full_disk_on_rank_0_ends_the_job(tmp_path):
    # Only rank 0 writes files: the other rank is already in the next epoch's collectives.
    (tmp_path / "full_disk.py").write_text(
        textwrap.dedent("""
        import errno, sys
        import chainrule.train
        from chainrule.cli import main

        def save(obj, path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        chainrule.train.save = save
        sys.exit(main(sys.argv[1:]))
        """)
    )
    args = ["full_disk.py", *TRAIN[2:], "--out", str(tmp_path / "run")]
    status, out, err = run_job(
        tmp_path, None, ranks=[args, [*TRAIN, "--out", str(tmp_path / "run")]]
    )
    assert status != 0
    assert len(lines_with("No space left on device", err)) == 1, err
    assert "test accuracy" not in out


def test_train_with_a_bad_setting_on_one_rank_ends_the_job(tmp_path):
    # The checkpoint to resume from exists on rank 0's disk only.
    status, _, err = run_job(
        tmp_path,
        None,
        ranks=[
            [*TRAIN, "--out", str(tmp_path / "run")],
            [*TRAIN, "--out", str(tmp_path / "run"), "--resume", str(tmp_path / "missing.npz")],
        ],
    )
    assert status != 0
    assert len(lines_with("missing.npz", err)) == 1, err


def test_train_with_different_epochs_per_rank_ends_the_job(tmp_path):
    status, _, err = run_job(
        tmp_path,
        None,
        ranks=[
            [*TRAIN, "--out", str(tmp_path / "run")],
            [*TRAIN[:-4], "--epochs", "2", "--hidden", "8", "--out", str(tmp_path / "run")],
        ],
    )
    assert status != 0
    assert len(lines_with("rank 1 exited while rank 0 waited for it", err)) == 1, err


def test_train_with_a_bad_setting_on_every_rank_prints_it_once(tmp_path):
    status, _, err = run_job(
        tmp_path,
        None,
        ranks=[[*TRAIN, "--out", str(tmp_path / "run"), "--resume", str(tmp_path / "missing.npz")]]
        * 2,
    )
    assert status != 0
    assert len(lines_with("missing.npz", err)) == 1, err
    assert "MPI_Abort" not in err


def test_train_with_a_bad_flag_on_every_rank_prints_it_once(tmp_path):
    status, _, err = run_job(tmp_path, None, ranks=[[*TRAIN, "--bogus"]] * 2)
    assert status == 2
    assert len(lines_with("--bogus", err)) == 1, err


def test_train_with_a_bad_flag_on_one_rank_ends_the_job(tmp_path):
    # Seen by rank 1 only, before MPI starts: rank 0 would wait for it in MPI_Init.
    status, _, err = run_job(tmp_path, None, ranks=[TRAIN, [*TRAIN, "--bogus"]], timeout=30)
    assert status != 0
    assert len(lines_with("--bogus", err)) == 1, err
