"""Registry of the frameworks: which module implements each, what it needs, what it runs.

A framework module exposes some of:
    make_mlp_step(batch) -> step()          one SGD step, returns the loss as a float
    make_small_ops(n) -> run()              forward + backward, returns sum of the gradient
    deep_chain(n) -> (forward_s, backward_s, gradient)
    make_gemm(n) -> run()                   (numpy, torch)
    make_cnn_step(batch) -> step()          one SGD step of LeNet-5, returns the loss
    make_conv2d(batch) -> run()             conv2d forward + backward, returns the output
                                            and the input, weight and bias gradients
                                            (numpy, chainrule, torch and their variants)
    make_lstm_step(batch) -> step()         one SGD step of an LSTM + linear head
    make_transformer_step(batch) -> step()  one SGD step of a TransformerEncoderLayer +
                                            linear head (both: chainrule and torch)
    train_digits(timeout) -> dict           (chainrule only)
    VERSION                                 version string of the framework
"""

from dataclasses import dataclass, field

ALL_WORKLOADS = ("mlp_step", "small_ops", "deep_chain")
# The CNN workloads compare chainrule with PyTorch eager and hand-written NumPy (im2col)
# only: the other peers have no convolution op to call (or, micrograd, no arrays).
CNN = ("cnn_step", "conv2d")
# The sequence workloads compare chainrule with PyTorch eager only (the target is
# chainrule within 1.5x of it); nobody else here has an LSTM or attention to call.
SEQUENCE = ("lstm_step", "transformer_step")


@dataclass(frozen=True)
class Framework:
    name: str
    module: str
    # Import name of the third-party package; when it is not installed the framework
    # is skipped. None for the reference and for chainrule, whose import errors are
    # failures to report rather than absences.
    package: str | None
    workloads: tuple
    # Why a workload is not run for this framework.
    not_run: dict = field(default_factory=dict)


_SCALAR_ONLY = "scalar engine: a 784-256-256-10 MLP would be ~270k Value nodes per sample"
_STEPS_ONLY = "mlp_step and the CNN workloads only"
_UNROLLED = "jit of an unrolled n-op chain measures XLA compile time, not a backward pass"

FRAMEWORKS = {
    f.name: f
    for f in [
        Framework("numpy", "numpy_impl", None, ALL_WORKLOADS + ("gemm",) + CNN),
        Framework(
            "numpy_reuse",
            "numpy_reuse_impl",
            None,
            ("mlp_step",),
            {"small_ops": "mlp_step only", "deep_chain": "mlp_step only"},
        ),
        Framework(
            "numpy_recycled",
            "numpy_recycled_impl",
            None,
            ("mlp_step",) + CNN,
            {"small_ops": _STEPS_ONLY, "deep_chain": _STEPS_ONLY},
        ),
        Framework(
            "numpy_tape",
            "numpy_tape_impl",
            None,
            ("mlp_step",),
            {"small_ops": "mlp_step only", "deep_chain": "mlp_step only"},
        ),
        Framework(
            "chainrule", "chainrule_impl", None, ALL_WORKLOADS + CNN + SEQUENCE + ("train_digits",)
        ),
        Framework(
            "chainrule_linear",
            "chainrule_linear_impl",
            None,
            ("mlp_step",),
            {"small_ops": "mlp_step only", "deep_chain": "mlp_step only"},
        ),
        # The step as a user writes it, no allocator call (#19); with cr.optim.SGD.
        Framework(
            "chainrule_plain",
            "chainrule_plain_impl",
            None,
            ("mlp_step",),
            {"small_ops": "mlp_step only", "deep_chain": "mlp_step only"},
        ),
        Framework(
            "chainrule_plain_sgd",
            "chainrule_plain_sgd_impl",
            None,
            ("mlp_step",),
            {"small_ops": "mlp_step only", "deep_chain": "mlp_step only"},
        ),
        Framework(
            "chainrule_compiled",
            "chainrule_compiled_impl",
            None,
            ("mlp_step", "cnn_step") + SEQUENCE,
            {"small_ops": _STEPS_ONLY, "deep_chain": _STEPS_ONLY, "conv2d": "training steps only"},
        ),
        Framework("torch", "torch_impl", "torch", ALL_WORKLOADS + ("gemm",) + CNN + SEQUENCE),
        Framework(
            "torch_recycled",
            "torch_recycled_impl",
            "torch",
            ("mlp_step",) + CNN,
            {"small_ops": _STEPS_ONLY, "deep_chain": _STEPS_ONLY},
        ),
        Framework("autograd", "autograd_impl", "autograd", ALL_WORKLOADS),
        Framework("mygrad", "mygrad_impl", "mygrad", ALL_WORKLOADS),
        Framework(
            "micrograd",
            "micrograd_impl",
            "micrograd",
            ("small_ops", "deep_chain"),
            {"mlp_step": _SCALAR_ONLY},
        ),
        Framework("jax", "jax_impl", "jax", ALL_WORKLOADS),
        Framework(
            "jax_jit", "jax_jit_impl", "jax", ("mlp_step", "small_ops"), {"deep_chain": _UNROLLED}
        ),
    ]
}

REFERENCE = "numpy"


def select(names):
    """Expand a user's list: a family name also selects its variants ("jax" -> jax,
    jax_jit; "numpy" -> numpy, numpy_reuse); an exact variant name selects only it."""
    chosen = []
    for name in names:
        matches = [f for f in FRAMEWORKS if f == name or f.startswith(name + "_")]
        if not matches:
            raise ValueError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}")
        chosen += [m for m in matches if m not in chosen]
    # Keep the registry's order, so tables always list frameworks the same way.
    return [f for f in FRAMEWORKS if f in chosen]
