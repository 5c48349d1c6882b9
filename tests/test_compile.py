"""cr.compile (#19): a replayed step equals eager mode to the last bit, or runs eagerly.

Every comparison is exact (np.array_equal, ==): a replay calls the same kernels and rules
on the same arrays in the same order as eager mode, so no tolerance is needed.
"""

import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import registry

OPTIMIZERS = {
    "sgd momentum": lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "sgd nesterov": lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda p: cr.optim.Adam(p, lr=0.01, amsgrad=True),
    "adamw": lambda p: cr.optim.AdamW(p, lr=0.01),
    "rmsprop": lambda p: cr.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda p: cr.optim.Adagrad(p, lr=0.05),
}


class _LSTMClassifier(cr.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.lstm = cr.nn.LSTM(6, 8, dtype=dtype)
        self.head = cr.nn.Linear(8, 5, dtype=dtype)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


class _TransformerClassifier(cr.nn.Module):
    """A post-norm encoder layer (attention, LayerNorm) with a head on the last position."""

    def __init__(self, dtype):
        super().__init__()
        self.layer = cr.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.head = cr.nn.Linear(8, 5)
        self.to(dtype)

    def forward(self, x):
        return self.head(self.layer(x)[:, -1])


def _model(kind, dtype):
    cr.nn.init.seed(0)
    if kind == "mlp":
        return cr.nn.Sequential(
            cr.nn.Linear(12, 16, dtype=dtype), cr.nn.ReLU(), cr.nn.Linear(16, 5, dtype=dtype)
        )
    if kind == "cnn":
        return cr.nn.Sequential(
            cr.nn.Conv2d(1, 4, 3, padding=1, dtype=dtype),
            cr.nn.ReLU(),
            cr.nn.MaxPool2d(2),
            cr.nn.Flatten(),
            cr.nn.Linear(4 * 4 * 4, 5, dtype=dtype),
        )
    if kind == "transformer":
        return _TransformerClassifier(dtype)
    return _LSTMClassifier(dtype)


_INPUT_SHAPES = {"mlp": (8, 12), "cnn": (4, 1, 8, 8), "lstm": (5, 4, 6), "transformer": (4, 5, 8)}


def _batches(kind, dtype, count=5, seed=1):
    rng = np.random.default_rng(seed)
    shape = _INPUT_SHAPES[kind]
    labels = shape[1] if kind == "lstm" else shape[0]
    return [
        (cr.tensor(rng.standard_normal(shape).astype(dtype)), cr.tensor(rng.integers(0, 5, labels)))
        for _ in range(count)
    ]


def _train(kind, dtype, optimizer, compiled, batches):
    """Losses and final parameters of a few training steps, eager or compiled."""
    model = _model(kind, dtype)
    opt = OPTIMIZERS[optimizer](list(model.parameters()))

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = cr.compile(step) if compiled else step
    losses = [run(x, y).item() for x, y in batches]
    return losses, [p.data.copy() for p in model.parameters()], run


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["mlp", "cnn", "lstm", "transformer"])
def test_a_replayed_step_equals_eager_mode_to_the_last_bit(kind, dtype, optimizer):
    batches = _batches(kind, dtype)
    eager_losses, eager_params, _ = _train(kind, dtype, optimizer, False, batches)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to eager mode
        losses, params, step = _train(kind, dtype, optimizer, True, batches)
    assert step.replays == len(batches) - 2  # two captures, then replays only
    assert losses == eager_losses
    for a, b in zip(params, eager_params):
        assert a.dtype == dtype and np.array_equal(a, b)


def test_the_schedule_lists_kernels_rules_accumulations_and_the_units():
    _, _, step = _train("mlp", np.float32, "adam", True, _batches("mlp", np.float32))
    kernels = step.schedule.kernels()
    for expected in ("linear", "relu", "cross_entropy", "linear rule 1", "accumulate"):
        assert expected in kernels
    assert kernels.count("Optimizer.step") == kernels.count("Optimizer.zero_grad") == 1
    text = step.schedule.text()
    assert "outlives the step" in text and "read from a tensor outside the step" in text
    assert "float32" not in text or "KiB" in text
    dot = step.schedule.dot()
    assert dot.startswith("digraph schedule {") and dot.rstrip().endswith("}")
    assert "def replay(a0, a1):" in step.schedule.source


def test_new_shapes_capture_again_and_both_replay():
    model = _model("mlp", np.float64)
    opt = cr.optim.SGD(list(model.parameters()), lr=0.1)
    eager_model = _model("mlp", np.float64)
    eager_opt = cr.optim.SGD(list(eager_model.parameters()), lr=0.1)

    def make(m, o):
        def step(x, y):
            o.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            o.step()
            return loss

        return step

    step, eager = cr.compile(make(model, opt)), make(eager_model, eager_opt)
    rng = np.random.default_rng(0)
    for batch in [8, 8, 8, 3, 3, 3, 8, 3]:
        x = cr.tensor(rng.standard_normal((batch, 12)))
        y = cr.tensor(rng.integers(0, 5, batch))
        assert step(x, y).item() == eager(x, y).item()
    assert len(step.cache) == 2 and all(e.replay is not None for e in step.cache.values())
    for a, b in zip(model.parameters(), eager_model.parameters()):
        assert np.array_equal(a.data, b.data)


def _pair(body, kind="mlp", dtype=np.float64):
    """The same step on two identical models: (compiled, eager, their parameter lists)."""
    steps, params = [], []
    for _ in range(2):
        model = _model(kind, dtype)
        opt = cr.optim.SGD(list(model.parameters()), lr=0.1)
        steps.append(lambda x, y, model=model, opt=opt: body(model, opt, x, y))
        params.append(list(model.parameters()))
    return cr.compile(steps[0]), steps[1], params


def _runs_eagerly_with_a_warning(body, match):
    """The compiled step warns (``match``) and still equals the eager one, call by call and
    in the parameters it leaves."""
    step, eager, params = _pair(body)
    with pytest.warns(RuntimeWarning, match=match):
        for x, y in _batches("mlp", np.float64, count=4):
            assert step(x, y).item() == eager(x, y).item()
    _assert_same(params)


def _assert_same(params):
    for a, b in zip(*params):
        assert np.array_equal(a.data, b.data)


def _sgd_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize(
    "body, message",
    [
        # A traced value read into Python: the step's own Python may depend on it.
        (lambda m, o, x, y: _sgd_step(m, o, x, y).item(), "reads a traced value into Python"),
        (
            lambda m, o, x, y: _sgd_step(m, o, x * 2 if float(m(x).sum()) > 0 else x, y),
            "reads a traced value into Python",
        ),
        (lambda m, o, x, y: bool((m(x) > 0).sum()), "reads a traced value into Python"),
        # Random draws would be repeated, not drawn anew.
        (
            lambda m, o, x, y: _sgd_step(lambda x: F.dropout(m(x), 0.5), o, x, y),
            "random numbers",
        ),
    ],
)
def test_what_a_replay_cannot_repeat_runs_eagerly_with_a_warning(body, message):
    step, eager, params = _pair(body)
    batches = _batches("mlp", np.float64, count=4)
    cr.nn.init.seed(5)
    expected = [eager(x, y) for x, y in batches]
    cr.nn.init.seed(5)
    with pytest.warns(RuntimeWarning, match=message):
        results = [step(x, y) for x, y in batches]
    for a, b in zip(results, expected):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    _assert_same(params)
    assert step.schedule is None and message in step.eager_reason


def _manual_sgd(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    for p in model.parameters():
        p.data = p.data - 0.1 * p.grad.data
        p.grad = None
    return loss


def _in_place_sgd(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    for p in model.parameters():
        p.data -= 0.1 * p.grad.data
        p.grad = None
    return loss


@pytest.mark.parametrize("body", [_manual_sgd, _in_place_sgd])
def test_parameters_changed_outside_the_recorded_calls_run_eagerly(body):
    _runs_eagerly_with_a_warning(body, "changed")


def test_batch_norm_running_statistics_make_the_step_run_eagerly():
    def body(model, opt, x, y):
        return _sgd_step(lambda x: model(norm(x)), opt, x, y)

    norm = cr.nn.BatchNorm1d(12, dtype=np.float64)
    step, eager, params = _pair(body)
    batches = _batches("mlp", np.float64, count=3)
    with pytest.warns(RuntimeWarning, match="changed outside the recorded calls"):
        step(*batches[0])
    assert step.eager_reason is not None


def test_an_array_made_in_python_from_the_inputs_is_not_baked_in():
    def body(model, opt, x, y):
        # Python-level NumPy on an argument: a constant to the recorder, different per batch.
        scale = cr.tensor(np.abs(x).max(axis=1, keepdims=True) + 1.0)
        return _sgd_step(model, opt, cr.tensor(x) / scale, y)

    step, eager, params = _pair(body)
    rng = np.random.default_rng(2)
    with pytest.warns(RuntimeWarning, match="differs between calls"):
        for _ in range(6):
            x, y = rng.standard_normal((8, 12)), cr.tensor(rng.integers(0, 5, 8))
            assert step(x, y).item() == eager(x, y).item()
    _assert_same(params)


def test_the_same_input_twice_holds_the_replay_to_that_input():
    def body(model, opt, x, y):
        scale = cr.tensor(np.abs(x).max(axis=1, keepdims=True) + 1.0)
        return _sgd_step(model, opt, cr.tensor(x) / scale, y)

    step, eager, params = _pair(body)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 12)), cr.tensor(rng.integers(0, 5, 8))
    for _ in range(4):  # equal inputs: the array made from them agrees between captures
        assert step(x, y).item() == eager(x, y).item()
    assert step.replays == 2
    other = rng.standard_normal((8, 12))  # new input: captured again, never replayed stale
    for _ in range(3):
        assert step(other, y).item() == eager(other, y).item()
    _assert_same(params)


def test_gradients_cleared_outside_the_step_are_respected():
    def body(model, opt, x, y):  # no zero_grad: gradients add up over calls, as in eager
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step, eager, params = _pair(body)
    for i, (x, y) in enumerate(_batches("mlp", np.float64, count=8)):
        assert step(x, y).item() == eager(x, y).item()
        if i % 3 == 2:  # now and then, by hand
            for p in params[0] + params[1]:
                p.grad = None
    _assert_same(params)
    for a, b in zip(*params):
        assert np.array_equal(a.grad.numpy(), b.grad.numpy())


def test_module_zero_grad_and_a_closure_input():
    def body(model, opt, x, y):
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step, eager, params = _pair(body)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in _batches("mlp", np.float64, count=5):
            assert step(x, y).item() == eager(x, y).item()
    assert "Module.zero_grad" in step.schedule.kernels()
    _assert_same(params)


def test_checkpoints_saved_and_loaded_mid_run(tmp_path):
    batches = _batches("cnn", np.float32, count=8)
    runs = []
    for compiled in (False, True):
        model = _model("cnn", np.float32)
        opt = cr.optim.Adam(list(model.parameters()), lr=0.01)

        def step(x, y, model=model, opt=opt):
            return _sgd_step(model, opt, x, y)

        run = cr.compile(step) if compiled else step
        path = tmp_path / f"checkpoint-{compiled}.npz"
        losses = []
        for i, (x, y) in enumerate(batches):
            if i == 3:
                cr.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
            if i == 6:  # back to step 3: the replay must read the loaded values and state
                saved = cr.load(path)
                model.load_state_dict(saved["model"])
                opt.load_state_dict(saved["optimizer"])
            losses.append(run(x, y).item())
        runs.append((losses, [p.data.copy() for p in model.parameters()]))
        if compiled:
            assert run.replays == len(batches) - 2  # loading changed no shape: no capture
    (eager_losses, eager_params), (losses, params) = runs
    assert losses == eager_losses
    assert all(np.array_equal(a, b) for a, b in zip(params, eager_params))


def test_a_changed_parameter_shape_captures_again():
    w = cr.tensor(np.ones((3, 2)), requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1)

    @cr.compile
    def step(x):
        opt.zero_grad()
        loss = (x @ w).sum()
        loss.backward()
        opt.step()
        return loss

    x = cr.tensor(np.ones((4, 3)))
    for _ in range(3):
        step(x)
    w.data = np.ones((3, 5))  # a new shape: a replay would use the old layout
    assert step(x).item() == 4 * 3 * 5
    assert np.array_equal(w.data, np.full((3, 5), 1 - 0.1 * 4.0))  # x.T @ ones: 4 each


def test_an_error_in_a_capture_leaves_nothing_behind():
    from chainrule.optim.optimizer import Optimizer

    step_method = Optimizer.__dict__["step"]

    @cr.compile
    def step(x):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        step(cr.tensor([1.0]))
    assert registry.recorder is None and Optimizer.__dict__["step"] is step_method


def test_other_threads_are_not_recorded():
    w = cr.tensor(np.ones(3), requires_grad=True)
    other = []

    def elsewhere():
        other.append((cr.tensor(np.arange(3.0)) * 2).sum().item())

    @cr.compile
    def step(x):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        loss = (x * w).sum()
        loss.backward()
        return loss

    for i in range(4):
        step(cr.tensor(np.full(3, float(i))))
    assert step.replays == 2
    assert step.schedule.kernels().count("mul") == step.schedule.kernels().count("sum") == 1
    # The other thread ran in the two captures; a replay runs none of the step's Python.
    assert other == [6.0, 6.0]


def test_data_parallel_in_one_process():
    from chainrule.distributed import DataParallel, World

    def make():
        model = _model("mlp", np.float64)
        parallel = DataParallel(model, World(None))
        opt = cr.optim.SGD(list(model.parameters()), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            parallel.average_gradients(weight=len(y))
            opt.step()
            return loss

        return step, list(model.parameters())

    (eager, eager_params), (compiled, params) = make(), make()
    compiled = cr.compile(compiled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in _batches("mlp", np.float64):
            assert compiled(x, y).item() == eager(x, y).item()
    assert "DataParallel.average_gradients" in compiled.schedule.kernels()
    assert compiled.replays == 5 - 2
    _assert_same((params, eager_params))


MPI_WORKER = r"""
import warnings
import numpy as np
import chainrule as cr
import chainrule.nn.functional as F
from chainrule.distributed import DataParallel, init

warnings.simplefilter("error")
world = init()
data = np.random.default_rng(7)
batches = [(data.standard_normal((9, 4)), data.integers(0, 3, 9)) for _ in range(6)]

def make():
    cr.nn.init.seed(world.rank)  # different on purpose: DataParallel broadcasts rank 0's
    model = cr.nn.Sequential(cr.nn.Linear(4, 6, dtype=np.float64), cr.nn.Tanh(),
                             cr.nn.Linear(6, 3, dtype=np.float64))
    parallel = DataParallel(model, world)
    opt = cr.optim.Adam(list(model.parameters()), lr=0.01)
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        parallel.average_gradients(weight=len(y))
        opt.step()
        return loss
    return step, model

(eager, eager_model), (compiled, model) = make(), make()
compiled = cr.compile(compiled)
for x, y in batches:
    xs, ys = world.shard((x, y))
    xs, ys = cr.tensor(xs), cr.tensor(ys)
    assert compiled(xs, ys).item() == eager(xs, ys).item()
pairs = zip(model.parameters(), eager_model.parameters())
same = all(np.array_equal(a.data, b.data) for a, b in pairs)
kernels = compiled.schedule.kernels()
replayed = "DataParallel.average_gradients" in kernels and compiled.replays == len(batches) - 2
flags = world.allreduce_sum([np.array([float(not same), float(not replayed)])])[0]
if world.is_root:
    print(f"ranks {world.size} differ {int(flags[0])} not-replayed {int(flags[1])}")
"""


def test_data_parallel_over_two_ranks_replays_the_allreduce(tmp_path):
    from test_distributed import _mpiexec

    script = tmp_path / "worker.py"
    script.write_text(MPI_WORKER)
    result = subprocess.run(
        [_mpiexec(), "-n", "2", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("ranks")]
    assert lines == ["ranks 2 differ 0 not-replayed 0"], result.stdout


def _zoo_step(params, opt):
    """Many kinds of ops, fan-out, broadcasting, views, NumPy scalars and indices."""
    w, b, v = params

    def step(x, rows, mask):
        opt.zero_grad()
        h = cr.tanh(x @ w + b)  # b broadcast over the batch: the engine sums it back
        g = cr.sigmoid(h) * cr.exp(-cr.abs(h)) + cr.sqrt(h * h + 1.0) / np.float32(3.0)
        both = cr.concatenate([g, h.T.T], axis=1).reshape(x.shape[0], 2, -1)
        s = cr.log_softmax(both, axis=-1).sum(axis=1) + cr.softmax(h, axis=0)
        picked = s[rows, :3] * v  # integer-array rows from an argument, v used twice
        total = picked.max(axis=1).mean() + cr.logsumexp(picked * v, axis=None)
        masked = cr.where(mask, cr.clip(s, -1.0, 1.0), 0.0) ** 2
        # A product of two 0-d results: its rule's shares are NumPy scalars, not arrays.
        loss = total + masked.mean() * h.mean() + (w * w).sum() * 1e-3 + cr.stack([b, b]).max()
        loss.backward()
        opt.step()
        return loss, picked

    return step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_kinds_of_ops_replay_exactly(dtype):
    rng = np.random.default_rng(4)
    start = [rng.standard_normal(shape).astype(dtype) for shape in [(6, 5), (5,), (3,)]]
    inputs = [
        (
            cr.tensor(rng.standard_normal((4, 6)).astype(dtype)),
            rng.integers(0, 4, 7),
            rng.random((4, 5)) > 0.3,
        )
        for _ in range(5)
    ]
    inputs.insert(3, inputs[2])  # the same arguments twice in a row too
    results = []
    for compiled in (False, True):
        params = [cr.tensor(a, requires_grad=True) for a in start]
        opt = cr.optim.Adam(params, lr=0.05)
        step = _zoo_step(params, opt)
        run = cr.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            outputs = [run(*call) for call in inputs]
        results.append((outputs, [p.data.copy() for p in params], [p.grad.numpy() for p in params]))
        if compiled:
            assert run.replays == len(inputs) - 2
    (eager, eager_params, eager_grads), (outputs, params, grads) = results
    for (loss, picked), (eager_loss, eager_picked) in zip(outputs, eager):
        assert loss.item() == eager_loss.item()
        assert np.array_equal(picked.numpy(), eager_picked.numpy())
    for a, b in zip(params + grads, eager_params + eager_grads):
        assert np.array_equal(a, b)


def test_a_learning_rate_schedule_inside_the_step():
    def make(compiled):
        model = _model("mlp", np.float64)
        opt = cr.optim.SGD(list(model.parameters()), lr=0.1, momentum=0.9)
        schedule = cr.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

        def step(x, y):
            loss = _sgd_step(model, opt, x, y)
            schedule.step()  # replayed whole: the rate keeps changing
            return loss

        return (cr.compile(step) if compiled else step), model, opt

    (eager, eager_model, eager_opt), (step, model, opt) = make(False), make(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in _batches("mlp", np.float64, count=7):
            assert step(x, y).item() == eager(x, y).item()
    assert opt.param_groups[0]["lr"] == eager_opt.param_groups[0]["lr"] == 0.1 * 0.5**3
    assert "LRScheduler.step" in step.schedule.kernels()
    _assert_same((list(model.parameters()), list(eager_model.parameters())))


def test_settings_changed_by_hand_inside_the_step_run_eagerly():
    def body(model, opt, x, y):
        opt.param_groups[0]["lr"] *= 0.9  # Python state: a replay would not repeat it
        return _sgd_step(model, opt, x, y)

    _runs_eagerly_with_a_warning(body, "settings of SGD")


def test_a_name_the_step_reads_rebound_between_calls_is_read_again():
    def make(compiled):
        model = _model("mlp", np.float64)
        opt = None

        def step(x, y):
            return _sgd_step(model, opt, x, y)  # `opt` as bound when it runs

        def new_optimizer(lr):
            nonlocal opt
            opt = cr.optim.SGD(list(model.parameters()), lr=lr)

        return (cr.compile(step) if compiled else step), new_optimizer, model

    (eager, eager_optimizer, eager_model), (step, new_optimizer, model) = make(False), make(True)
    for i, (x, y) in enumerate(_batches("mlp", np.float64, count=8)):
        if i in (0, 4):  # a new optimizer under the same name
            new_optimizer(0.1 / (i + 1))
            eager_optimizer(0.1 / (i + 1))
        assert step(x, y).item() == eager(x, y).item()
    assert step.replays == 8 - 4  # captured anew after the new optimizer
    _assert_same((list(model.parameters()), list(eager_model.parameters())))


def test_two_backwards_in_one_step_accumulate_and_in_place_ops_in_the_graph():
    def body(model, opt, x, y):
        opt.zero_grad()
        half = x.shape[0] // 2
        for part in (slice(0, half), slice(half, None)):  # gradient accumulation
            h = model(x[part])
            h += 1.0  # in place inside the graph: recorded as an op like any other
            F.cross_entropy(h, y[part]).backward()
        opt.step()
        return h

    step, eager, params = _pair(body)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in _batches("mlp", np.float64, count=5):
            assert np.array_equal(step(x, y).numpy(), eager(x, y).detach().numpy())
    assert step.schedule.kernels().count("accumulate") == 2 * 4
    _assert_same(params)
