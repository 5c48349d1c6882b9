"""Backpropagation through time, written by hand for a vanilla RNN.

A vanilla (Elman) RNN reads a sequence x_1 .. x_T one step at a time, carrying a hidden
state from each step to the next:

    h_t = tanh(W_xh x_t + W_hh h_{t-1} + b)          t = 1 .. T, h_0 given

Unrolled, it is an ordinary graph, T copies of one step that share W_xh, W_hh and b, so
its backward pass is the ordinary one, walked from the last step to the first. At step t
the gradient arriving at h_t has two parts: what the loss says about h_t directly, and
what step t+1 sends back along the recurrent edge. Then, with a_t the tanh's input:

    dh_t     = dL/dh_t (direct) + dh_t (from step t+1)    h_t is used twice: they add
    da_t     = dh_t * (1 - h_t^2)                          tanh' from its output
    dW_xh   += da_t x_t^T     dW_hh += da_t h_{t-1}^T     db += da_t
    dx_t     = W_xh^T da_t
    dh_{t-1} = W_hh^T da_t = W_hh^T (dh_t * (1 - h_t^2))  the recurrent edge

Shared weights collect one share per step (the sums). The recurrent edge multiplies the
gradient by W_hh^T and by tanh' once per step it travels back: over many steps it shrinks
(or grows) geometrically, the vanishing (exploding) gradient that LSTMs were made for;
the script prints how its norm decays.

Everything is checked against chainrule's ``cr.nn.RNN`` (its parameters loaded with the
same arrays) in float64: values and every gradient agree to rounding error.

    python examples/rnn_backprop_through_time.py
"""

import numpy as np

import chainrule as cr


def rnn_forward(x, h0, w_xh, w_hh, b):
    """The states h_1 .. h_T (T, N, H) of the RNN over ``x`` (T, N, D) from ``h0`` (N, H).

    Rows are samples, so ``W_xh x_t`` is written ``x_t @ W_xh.T``; weights have PyTorch's
    shapes: ``w_xh`` (H, D), ``w_hh`` (H, H), ``b`` (H,)."""
    states, h = [], h0
    for x_t in x:
        h = np.tanh(x_t @ w_xh.T + h @ w_hh.T + b)
        states.append(h)
    return np.stack(states)


def rnn_backward(dh_direct, x, h0, states, w_xh, w_hh):
    """Backward through time. ``dh_direct`` (T, N, H) is dL/dh_t from the loss alone;
    returns (dx, dh0, dW_xh, dW_hh, db) and the gradient carried along the recurrent
    edge into each step, dh_{t-1} for t = T .. 1."""
    dx = np.empty_like(x)
    dw_xh, dw_hh = np.zeros_like(w_xh), np.zeros_like(w_hh)
    db = np.zeros(w_hh.shape[0])
    carried = np.zeros_like(h0)  # nothing comes back from beyond the last step
    along_edge = []
    for t in range(len(x) - 1, -1, -1):
        h_prev = states[t - 1] if t > 0 else h0
        dh = dh_direct[t] + carried
        da = dh * (1 - states[t] ** 2)
        dw_xh += da.T @ x[t]
        dw_hh += da.T @ h_prev
        db += da.sum(axis=0)  # b is broadcast over the batch: its gradient sums over it
        dx[t] = da @ w_xh
        carried = da @ w_hh  # dh_{t-1} = W_hh^T (dh_t * (1 - h_t^2)), rows as samples
        along_edge.append(carried)
    return (dx, carried, dw_xh, dw_hh, db), along_edge


def chainrule_rnn(x, h0, w_xh, w_hh, b, dh_direct):
    """The same RNN as ``cr.nn.RNN`` (bias_hh zero): its states and the gradients of
    ``sum(states * dh_direct)`` with respect to (x, h0, W_xh, W_hh, bias_ih, bias_hh)."""
    rnn = cr.nn.RNN(w_xh.shape[1], w_xh.shape[0], dtype=np.float64)
    rnn.load_state_dict(
        {
            "weight_ih_l0": w_xh,
            "weight_hh_l0": w_hh,
            "bias_ih_l0": b,
            "bias_hh_l0": np.zeros_like(b),
        }
    )
    xt = cr.tensor(x, requires_grad=True)
    h0t = cr.tensor(h0[None], requires_grad=True)  # (layers, N, H)
    states, _ = rnn(xt, h0t)
    states.backward(dh_direct)
    grads = [xt.grad.numpy(), h0t.grad.numpy()[0]]
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    return states.numpy(), grads + [getattr(rnn, name).grad.numpy() for name in names]


def error(a, b):
    """Largest difference relative to the largest value: max|a - b| / max|b|."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


GRADIENTS = ("dx", "dh0", "dW_xh", "dW_hh", "db")


def main(steps=12, batch=3, inputs=4, hidden=5, scale=0.6, seed=0, verbose=True):
    """Check the hand-written forward and backward passes against chainrule (float64);
    returns the largest relative error of the states and of each gradient, and the norm
    of the gradient carried back along the recurrent edge at each step (``edge_norms``,
    from h_{T-1} back to h_0) when the loss reads the last state only. ``scale`` is the
    spread of W_hh's entries relative to 1 / sqrt(hidden)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps, batch, inputs))
    h0 = rng.normal(scale=0.5, size=(batch, hidden))
    w_xh = rng.normal(scale=1 / np.sqrt(inputs), size=(hidden, inputs))
    w_hh = rng.normal(scale=scale / np.sqrt(hidden), size=(hidden, hidden))
    b = rng.normal(scale=0.1, size=hidden)
    dh_direct = rng.normal(size=(steps, batch, hidden))  # a loss that reads every state

    states = rnn_forward(x, h0, w_xh, w_hh, b)
    grads, _ = rnn_backward(dh_direct, x, h0, states, w_xh, w_hh)
    cr_states, cr_grads = chainrule_rnn(x, h0, w_xh, w_hh, b, dh_direct)
    result = {"states": error(states, cr_states)}
    result.update({name: error(a, c) for name, a, c in zip(GRADIENTS, grads, cr_grads)})
    # b stands for both of PyTorch's biases, which add: each gets db.
    result["db"] = max(result["db"], error(grads[-1], cr_grads[-1]))

    # A loss on the last state alone: every earlier state's gradient arrived along the
    # recurrent edge, through every step in between.
    last_only = np.zeros_like(dh_direct)
    last_only[-1] = dh_direct[-1]
    _, along_edge = rnn_backward(last_only, x, h0, states, w_xh, w_hh)
    result["edge_norms"] = [float(np.linalg.norm(g)) for g in along_edge]

    if verbose:
        print(f"vanilla RNN, {steps} steps, batch {batch}, {inputs} inputs, {hidden} hidden:")
        print("largest relative difference from chainrule's cr.nn.RNN (float64)")
        for name in ("states",) + GRADIENTS:
            print(f"  {name:7s} {result[name]:.1e}")
        print("loss on h_T only: |dL/dh_t| carried back along the recurrent edge")
        for t, value in zip(range(steps - 1, -1, -1), result["edge_norms"]):
            print(f"  h_{t:<3d} {value:.3e}")
    return result


if __name__ == "__main__":
    main()
