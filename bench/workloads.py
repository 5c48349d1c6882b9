"""What every framework computes: sizes, seeds, inputs, repeat counts and FLOP counts.

Each framework module builds its own version of these workloads from the same NumPy
inputs, so that results (loss, gradient sums) can be cross-checked between frameworks.
"""

WORKLOADS = (
    "gemm",
    "mlp_step",
    "small_ops",
    "deep_chain",
    "cnn_step",
    "conv2d",
    "lstm_step",
    "transformer_step",
    "train_digits",
)

MLP_SIZES = (784, 256, 256, 10)
MLP_BATCHES = (32, 128, 1024)
LR = 0.01
# The batch whose run also records peak memory; its warm-up plus timed steps total 100.
MEMORY_BATCH = 1024

SMALL_OPS_N = 1000
SMALL_OPS_SHAPE = (8,)
# The small_ops chain cycles through these five ops. With these two constants the values
# stay within [-2.5, 2.5] and the gradient neither vanishes nor explodes (about 1e-3 after
# 1,000 ops), so its sum cross-checks the frameworks against each other.
SMALL_OPS_CYCLE = ("mul", "add", "tanh", "exp", "sin")
MUL = 2.0
ADD = -0.5

DEEP_CHAIN_NS = (100_000, 1_000_000)
DEEP_CHAIN_FACTOR = 1.0000001

GEMM_SIZES = (1024, 2048)

# cnn_step: a LeNet-5 training step on 1x28x28 images, PyTorch's layouts. The first
# convolution pads by 2, as LeNet-5 on MNIST does (28x28 in, 16 * 5 * 5 = 400 features
# out of the second pooling).
CNN_BATCHES = (32, 128)
CNN_MEMORY_BATCH = 128  # the batch whose run also counts the step's peak memory
CNN_IMAGE = (1, 28, 28)
CNN_CONVS = ((6, 1, 5, 2), (16, 6, 5, 0))  # (out, in, kernel, padding), each + relu + pool 2
CNN_FCS = (400, 120, 84, 10)

# conv2d: forward and backward (input, weight and bias gradients) of one convolution.
CONV_INPUT = (64, 3, 32, 32)
CONV_WEIGHT = (64, 3, 3, 3)
CONV_PADDING = 1

# lstm_step: one SGD step of a 1-layer LSTM (time-major input) with a linear head on the
# last hidden state; transformer_step: one SGD step of a TransformerEncoderLayer
# (batch_first, post-norm, relu, dropout 0) with a linear head on every position. Both
# cross-entropy over 10 classes, float32, PyTorch's parameter names and layouts.
SEQUENCE = ("lstm_step", "transformer_step")
LSTM_SIZES = {"input": 64, "hidden": 256, "length": 32, "batch": 32}
TRANSFORMER_SIZES = {"d_model": 128, "nhead": 4, "dim_feedforward": 512, "length": 64, "batch": 32}
SEQUENCE_CLASSES = 10


def cases(workload):
    """The parameter sets a workload is measured at, one subprocess each."""
    if workload == "mlp_step":
        return [{"batch": b} for b in MLP_BATCHES]
    if workload == "small_ops":
        return [{"n": SMALL_OPS_N}]
    if workload == "deep_chain":
        return [{"n": n} for n in DEEP_CHAIN_NS]
    if workload == "gemm":
        return [{"n": n} for n in GEMM_SIZES]
    if workload == "cnn_step":
        return [{"batch": b} for b in CNN_BATCHES]
    if workload == "conv2d":
        return [{"batch": CONV_INPUT[0]}]
    if workload == "lstm_step":
        return [{"batch": LSTM_SIZES["batch"]}]
    if workload == "transformer_step":
        return [{"batch": TRANSFORMER_SIZES["batch"]}]
    return [{}]


def repeats(workload, case, quick):
    """(warm-up, timed) repetitions for one case."""
    if workload == "mlp_step":
        if case["batch"] >= MEMORY_BATCH:
            return (2, 8) if quick else (10, 90)
        return (3, 10) if quick else (20, 60)
    if workload == "small_ops":
        return (1, 5) if quick else (5, 30)
    if workload == "deep_chain":
        # Building a chain of 10^6 nodes is itself the expensive part: few repeats.
        if quick:
            return (0, 1)
        return (1, 3) if case["n"] < 1_000_000 else (0, 2)
    if workload == "gemm":
        return (1, 3) if quick else (3, 10)
    if workload in ("cnn_step", "conv2d") + SEQUENCE:
        return (2, 5) if quick else (5, 20)
    return (0, 1)


# Short, drift-sensitive workloads: measured for a minimum time, and once per round; the
# others (a minute-long backward through 10^6 ops, a whole training run, the GEMM
# ceiling) are measured once.
SHORT = ("mlp_step", "small_ops", "cnn_step", "conv2d") + SEQUENCE


def min_seconds(workload, case, quick):
    """How long the timed repeats of one case run at least: a fast case repeats past its
    count until then, so that its median spans a window no short burst of load can fill."""
    if quick or workload not in SHORT:
        return 0.0
    if workload == "mlp_step" and case["batch"] >= MEMORY_BATCH:
        return 0.0  # its fixed step count is also the memory measurement's
    return 1.5


def mlp_problem(batch, seed=0):
    """Inputs (float32), integer labels and fresh parameters [W1, b1, W2, b2, W3, b3]."""
    import numpy as np  # here, not at the top: `python -m bench setup` runs without NumPy

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, MLP_SIZES[-1], size=batch)
    params = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        # He initialisation keeps the ReLU activations at unit scale.
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        params += [w * np.float32(np.sqrt(2.0 / fan_in)), np.zeros(fan_out, np.float32)]
    return x, y, params


def small_ops_input(seed=0):
    import numpy as np

    return np.random.default_rng(seed).uniform(-1.0, 1.0, SMALL_OPS_SHAPE)


def mlp_flops(batch):
    """FLOPs of the matrix products in one training step (elementwise work ignored).

    Forward: 2*B*(784*256 + 256*256 + 256*10). Backward: each layer needs dW = X^T dY
    (same count as its forward product) and dX = dY W^T (same again), except the first
    layer, whose input gradient nobody asks for; every framework here skips it because
    the inputs do not require a gradient. So backward = 2*forward - 2*B*784*256.
    """
    pairs = list(zip(MLP_SIZES[:-1], MLP_SIZES[1:]))
    forward = 2 * batch * sum(i * o for i, o in pairs)
    first_input_grad = 2 * batch * pairs[0][0] * pairs[0][1]
    return forward + 2 * forward - first_input_grad


def cnn_problem(batch, seed=0):
    """Images (batch, 1, 28, 28) float32, integer labels and fresh parameters in PyTorch's
    layouts: [conv1.weight (6, 1, 5, 5), conv1.bias, conv2.weight (16, 6, 5, 5),
    conv2.bias, fc1.weight (120, 400), fc1.bias, fc2.weight, fc2.bias, fc3.weight,
    fc3.bias] (He-initialised weights, small random biases)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + CNN_IMAGE, dtype=np.float32)
    y = rng.integers(0, CNN_FCS[-1], size=batch)
    shapes = [(out, inp, k, k) for out, inp, k, _ in CNN_CONVS]
    shapes += [(out, inp) for inp, out in zip(CNN_FCS[:-1], CNN_FCS[1:])]
    params = []
    for shape in shapes:
        fan_in = int(np.prod(shape[1:]))
        w = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        # Non-zero biases, so that their gradients are checked through the first loss too.
        params += [w, rng.uniform(-0.1, 0.1, shape[0]).astype(np.float32)]
    return x, y, params


def conv_problem(seed=0):
    """Input, weight, bias and the upstream gradient of conv2d's output (float32)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(CONV_INPUT, dtype=np.float32)
    fan_in = int(np.prod(CONV_WEIGHT[1:]))
    w = rng.standard_normal(CONV_WEIGHT, dtype=np.float32) * np.float32(np.sqrt(2 / fan_in))
    b = rng.uniform(-0.1, 0.1, CONV_WEIGHT[0]).astype(np.float32)
    height, width = (n + 2 * CONV_PADDING - k + 1 for n, k in zip(CONV_INPUT[2:], CONV_WEIGHT[2:]))
    g = rng.standard_normal((CONV_INPUT[0], CONV_WEIGHT[0], height, width), dtype=np.float32)
    return x, w, b, g


def conv_check(*arrays):
    """The number compared between conv2d's frameworks: the sum of the output's and the
    gradients' absolute values (no cancellation, so a relative tolerance means something)."""
    import numpy as np

    return float(sum(np.abs(a).sum(dtype=np.float64) for a in arrays))


def lstm_problem(seed=0):
    """Inputs (length, batch, input) float32, integer labels (batch,) and the parameters
    as the state_dict of a module holding ``lstm`` and ``head``: ``lstm.weight_ih_l0``
    (4H, input), ``lstm.weight_hh_l0`` (4H, H), ``lstm.bias_ih_l0``, ``lstm.bias_hh_l0``,
    ``head.weight`` (10, H) and ``head.bias``, all from U(-1/sqrt(H), 1/sqrt(H)) as
    PyTorch initialises an LSTM."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_in, hidden = LSTM_SIZES["input"], LSTM_SIZES["hidden"]
    x = rng.standard_normal((LSTM_SIZES["length"], LSTM_SIZES["batch"], n_in), dtype=np.float32)
    y = rng.integers(0, SEQUENCE_CLASSES, size=LSTM_SIZES["batch"])
    shapes = {
        "lstm.weight_ih_l0": (4 * hidden, n_in),
        "lstm.weight_hh_l0": (4 * hidden, hidden),
        "lstm.bias_ih_l0": (4 * hidden,),
        "lstm.bias_hh_l0": (4 * hidden,),
        "head.weight": (SEQUENCE_CLASSES, hidden),
        "head.bias": (SEQUENCE_CLASSES,),
    }
    bound = 1 / np.sqrt(hidden)
    params = {
        k: rng.uniform(-bound, bound, shape).astype(np.float32) for k, shape in shapes.items()
    }
    return x, y, params


def transformer_problem(seed=0):
    """Inputs (batch, length, d_model) float32, integer labels (batch, length) and the
    parameters as the state_dict of a module holding ``layer`` (PyTorch's
    TransformerEncoderLayer: ``layer.self_attn.in_proj_weight``, ``layer.linear1.bias``,
    ...) and ``head``: weights from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), small random
    biases, LayerNorms at ones and zeros."""
    import numpy as np

    rng = np.random.default_rng(seed)
    d, ff = TRANSFORMER_SIZES["d_model"], TRANSFORMER_SIZES["dim_feedforward"]
    batch, length = TRANSFORMER_SIZES["batch"], TRANSFORMER_SIZES["length"]
    x = rng.standard_normal((batch, length, d), dtype=np.float32)
    y = rng.integers(0, SEQUENCE_CLASSES, size=(batch, length))
    params = {}
    for weight, bias, (rows, fan_in) in [
        ("layer.self_attn.in_proj_weight", "layer.self_attn.in_proj_bias", (3 * d, d)),
        ("layer.self_attn.out_proj.weight", "layer.self_attn.out_proj.bias", (d, d)),
        ("layer.linear1.weight", "layer.linear1.bias", (ff, d)),
        ("layer.linear2.weight", "layer.linear2.bias", (d, ff)),
        ("head.weight", "head.bias", (SEQUENCE_CLASSES, d)),
    ]:
        bound = 1 / np.sqrt(fan_in)
        params[weight] = rng.uniform(-bound, bound, (rows, fan_in)).astype(np.float32)
        params[bias] = rng.uniform(-0.1, 0.1, rows).astype(np.float32)
    for norm in ("norm1", "norm2"):
        params[f"layer.{norm}.weight"] = np.ones(d, np.float32)
        params[f"layer.{norm}.bias"] = np.zeros(d, np.float32)
    return x, y, params
