"""Tables of medians and ratios, as aligned text (terminal) or Markdown."""

import functools
import statistics

from bench.frameworks import FRAMEWORKS, REFERENCE
from bench.runner import CONFIRM, describe
from bench.workloads import (
    CNN_BATCHES,
    CNN_MEMORY_BATCH,
    CONV_INPUT,
    CONV_WEIGHT,
    DEEP_CHAIN_NS,
    GEMM_SIZES,
    MEMORY_BATCH,
    MLP_BATCHES,
    SEQUENCE,
    SHORT,
    cases,
    mlp_flops,
)

# Results that should agree between frameworks (same seed, same inputs): a relative
# difference above this flags an implementation that computes something else.
CHECK_RTOL = {
    "mlp_step": 1e-3,
    "small_ops": 1e-6,
    "deep_chain": 1e-6,
    "cnn_step": 1e-3,
    "conv2d": 1e-4,
    "lstm_step": 1e-4,
    "transformer_step": 1e-4,
}

# Share of the CPUs that other processes may use between cases before the report warns.
BUSY_WARNING = 0.2


class Results:
    """Lookup over the runner's result list."""

    def __init__(self, data):
        self.data = data
        self.by_key = {
            (r["framework"], r["workload"], tuple(sorted(r["case"].items()))): r
            for r in data["results"]
        }
        seen = {r["framework"] for r in data["results"]}
        self.frameworks = [f for f in FRAMEWORKS if f in seen]

    def get(self, framework, workload, **case):
        return self.by_key.get((framework, workload, tuple(sorted(case.items()))))

    def rows_for(self, workload):
        return [
            f
            for f in self.frameworks
            if any(r["framework"] == f and r["workload"] == workload for r in self.data["results"])
        ]

    def label(self, framework):
        versions = [
            r["version"]
            for r in self.data["results"]
            if r["framework"] == framework and r.get("version")
        ]
        return f"{framework} {versions[0]}" if versions else framework

    def gemm_peak(self):
        rates = [
            r.get("best_gflops", r["gflops"])
            for n in GEMM_SIZES
            if (r := self.get(REFERENCE, "gemm", n=n)) and r["status"] == "ok"
        ]
        return max(rates, default=None)


def _status(result):
    return "-" if result is None else result["status"]


def _notes(results, workload, framework, cases):
    """Why cells are empty, and results that disagree with the reference."""
    notes = []
    for case in cases:
        label = " ".join(f"{'b' if k == 'batch' else k}={v}" for k, v in case.items())
        notes += _case_notes(results, workload, framework, case, label)
    texts = list(dict.fromkeys(text for _, text in notes))
    # A reason shared by every case is said once, without the case.
    if len(texts) == 1 and len(notes) == len(cases):
        return texts[0]
    return "; ".join(f"{label}: {text}" if len(cases) > 1 else text for label, text in notes)


def _case_notes(results, workload, framework, case, label, reference=REFERENCE):
    """The (label, text) notes of one case; its check is compared with ``reference``'s."""
    notes = []
    r = results.get(framework, workload, **case)
    if r is not None:
        text = r.get("error") or r.get("note")
        if text:
            notes.append((label, text))
        if r.get("confirmed") is False:
            rounds = r["round_medians_s"]
            notes.append(
                (
                    label,
                    f"fastest of {len(rounds)} rounds unconfirmed (next "
                    f"{sorted(rounds)[1] / min(rounds):.2f}x)",
                )
            )
        ref = results.get(reference, workload, **case)
        if ref and ref["status"] == "ok" and r["status"] == "ok" and "check" in r:
            a, b = r["check"], ref["check"]
            if abs(a - b) > CHECK_RTOL[workload] * max(abs(b), 1e-300):
                notes.append((label, f"result {a:.6g} != {reference} {b:.6g}"))
    return notes


def _ratio(value, ref):
    return f" ({value / ref:.2f}x)" if ref else ""


def _vs_reference(results, r, key, scale=1, reference=REFERENCE, **case):
    """``r[key]`` (times ``scale``) with its ratio to the reference's value in the same case."""
    ref = results.get(reference, r["workload"], **case)
    ref_value = ref[key] if ref and ref["status"] == "ok" else None
    return f"{r[key] * scale:.3g}{_ratio(r[key], ref_value)}"


def gemm_table(results):
    rows = []
    for fw in results.rows_for("gemm"):
        for n in GEMM_SIZES:
            r = results.get(fw, "gemm", n=n)
            if r and r["status"] == "ok":
                best = r.get("best_gflops", r["gflops"])
                rows.append(
                    [
                        results.label(fw),
                        f"{n}^3 float32",
                        f"{r['median_s'] * 1e3:.2f}",
                        f"{r['gflops']:.1f}",
                        f"{best:.1f}",
                        "",
                    ]
                )
            elif r:
                rows.append(
                    [
                        results.label(fw),
                        f"{n}^3 float32",
                        _status(r),
                        "-",
                        "-",
                        r.get("error") or r.get("note", ""),
                    ]
                )
    return (
        f"gemm: matrix product; {REFERENCE}'s (np.matmul) best run is the ceiling below",
        ["framework", "size", "median ms", "GFLOP/s", "best GFLOP/s", "notes"],
        rows,
    )


def mlp_table(results):
    headers = ["framework"] + [f"b={b} ms" for b in MLP_BATCHES]
    headers += [
        f"peak RSS growth MiB (b={MEMORY_BATCH})",
        f"peak arrays MiB (b={MEMORY_BATCH}, tracemalloc)",
        "notes",
    ]
    rows = []
    cases = [{"batch": b} for b in MLP_BATCHES]
    for fw in results.rows_for("mlp_step"):
        row = [results.label(fw)]
        for b in MLP_BATCHES:
            r = results.get(fw, "mlp_step", batch=b)
            if r and r["status"] == "ok":
                row.append(_vs_reference(results, r, "median_s", 1e3, batch=b))
            else:
                row.append(_status(r))
        mem = results.get(fw, "mlp_step", batch=MEMORY_BATCH)
        row.append(f"{mem['peak_mem_mib']:.0f}" if mem and "peak_mem_mib" in mem else "-")
        row.append(f"{mem['traced_peak_mib']:.2f}" if mem and "traced_peak_mib" in mem else "-")
        row.append(_notes(results, "mlp_step", fw, cases))
        rows.append(row)
    return (
        f"mlp_step: one SGD step of a 784-256-256-10 ReLU MLP, float32, median ms (x {REFERENCE})",
        headers,
        rows,
    )


# The floor the paired table reads chainrule against: hand NumPy under its allocator policy.
PAIRED_REFERENCE = "numpy_recycled"


def paired_ratios(result, reference):
    """Each round's median over the reference's median in the same round, or None when the
    two were not measured in the same rounds. Rounds run every framework in turn, seconds
    apart, so a ratio within a round sees one state of a machine whose speed drifts."""
    mine = (result or {}).get("round_medians_s")
    theirs = (reference or {}).get("round_medians_s")
    if not mine or not theirs or len(mine) != len(theirs):
        return None
    return [a / b for a, b in zip(mine, theirs)]


def spread(ratios, digits=2):
    """``median [lower quartile-upper quartile]`` of some ratios (the median alone for
    fewer than four)."""
    median = statistics.median(ratios)
    if len(ratios) < 4:
        return f"{median:.{digits}f}"
    low, _, high = statistics.quantiles(ratios, n=4)
    return f"{median:.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


def mlp_paired_table(results, reference=PAIRED_REFERENCE):
    headers = ["framework"] + [f"b={b}" for b in MLP_BATCHES]
    rows, rounds = [], set()
    for fw in results.rows_for("mlp_step"):
        if fw == reference:
            continue
        row = [results.label(fw)]
        for b in MLP_BATCHES:
            ratios = paired_ratios(
                results.get(fw, "mlp_step", batch=b),
                results.get(reference, "mlp_step", batch=b),
            )
            row.append("-" if ratios is None else spread(ratios))
            rounds |= {len(ratios)} if ratios else set()
        if any(cell != "-" for cell in row[1:]):
            rows.append(row)
    count = "/".join(str(n) for n in sorted(rounds))
    what = " (hand NumPy, same allocator)" if reference == PAIRED_REFERENCE else ""
    return (
        f"mlp_step: paired ratios to {reference}{what}: each "
        f"round's median over {reference}'s in the same round, median [quartiles] "
        f"over {count} rounds",
        headers,
        rows,
    )


def mlp_efficiency_table(results):
    peak = results.gemm_peak()
    headers = ["framework"] + [f"b={b} GFLOP/s (% of GEMM)" for b in MLP_BATCHES]
    rows = []
    for fw in results.rows_for("mlp_step"):
        row = [results.label(fw)]
        for b in MLP_BATCHES:
            r = results.get(fw, "mlp_step", batch=b)
            if not (r and r["status"] == "ok"):
                row.append(_status(r))
                continue
            rate = mlp_flops(b) / r["median_s"] / 1e9
            row.append(f"{rate:.1f}" + (f" ({100 * rate / peak:.0f}%)" if peak else ""))
        if any(cell not in ("-", "n/a", "skipped") for cell in row[1:]):
            rows.append(row)
    title = "mlp_step: matmul FLOPs per second (fwd + bwd products, see mlp_flops)"
    if peak:
        title += f", as % of the {peak:.1f} GFLOP/s GEMM ceiling"
    return title, headers, rows


def small_ops_table(results):
    rows = []
    for fw in results.rows_for("small_ops"):
        r = next(
            x
            for x in results.data["results"]
            if x["framework"] == fw and x["workload"] == "small_ops"
        )
        if r["status"] == "ok":
            cell = _vs_reference(results, r, "per_op_us", **r["case"])
        else:
            cell = r["status"]
        rows.append([results.label(fw), cell, _notes(results, "small_ops", fw, [r["case"]])])
    return (
        "small_ops: 1,000 elementwise ops on a shape-(8,) float64 tensor, forward + "
        f"backward, median us per op (x {REFERENCE})",
        ["framework", "us/op", "notes"],
        rows,
    )


def deep_chain_table(results):
    headers = ["framework"]
    for n in DEEP_CHAIN_NS:
        headers += [f"n={n:,} fwd s", "bwd s", "bwd us/op"]
    headers.append("notes")
    rows = []
    for fw in results.rows_for("deep_chain"):
        row = [results.label(fw)]
        for n in DEEP_CHAIN_NS:
            r = results.get(fw, "deep_chain", n=n)
            if r and r["status"] == "ok":
                row += [
                    f"{r['forward_s']:.3g}",
                    f"{r['backward_s']:.3g}",
                    _vs_reference(results, r, "per_op_us", n=n),
                ]
            else:
                row += [_status(r), "", ""]
        row.append(_notes(results, "deep_chain", fw, [{"n": n} for n in DEEP_CHAIN_NS]))
        rows.append(row)
    return (
        "deep_chain: x = x * 1.0000001 repeated n times on shape (1,), median s "
        f"(x {REFERENCE} per op)",
        headers,
        rows,
    )


def train_table(results):
    rows = []
    for fw in results.rows_for("train_digits"):
        r = results.get(fw, "train_digits")
        if r["status"] == "ok":
            rows.append([results.label(fw), f"{r['wall_s']:.1f}", f"{r['peak_rss_mib']:.0f}", ""])
        else:
            rows.append([results.label(fw), r["status"], "-", r.get("error") or r.get("note", "")])
    return (
        "train_digits: `chainrule train` with default arguments",
        ["framework", "wall s", "peak RSS MiB", "notes"],
        rows,
    )


# The CNN workloads' cases, as (workload, case, column label), in the tables' order.
CNN_COLUMNS = [("cnn_step", {"batch": b}, f"LeNet b={b}") for b in CNN_BATCHES] + [
    ("conv2d", case, "conv2d") for case in cases("conv2d")
]
# The paired CNN tables: against hand NumPy (the suite's reference) and against PyTorch
# eager (the target: chainrule within 1.5x of it).
CNN_PAIRED_REFERENCES = (REFERENCE, "torch")


def _cnn_rows(results):
    return [
        f
        for f in results.frameworks
        if any(results.get(f, w, **case) for w, case, _ in CNN_COLUMNS)
    ]


def cnn_table(results):
    headers = ["framework"] + [f"{label} ms" for _, _, label in CNN_COLUMNS] + ["notes"]
    rows = []
    for fw in _cnn_rows(results):
        row = [results.label(fw)]
        for workload, case, _ in CNN_COLUMNS:
            r = results.get(fw, workload, **case)
            ok = r and r["status"] == "ok"
            row.append(_vs_reference(results, r, "median_s", 1e3, **case) if ok else _status(r))
        notes = [
            note
            for w, case, label in CNN_COLUMNS
            for note in _case_notes(results, w, fw, case, label)
        ]
        # A note every column has is said once, without the column.
        every = {text for _, text in notes if sum(t == text for _, t in notes) == len(CNN_COLUMNS)}
        row.append(
            "; ".join(
                list(dict.fromkeys(t for _, t in notes if t in every))
                + [f"{label}: {t}" for label, t in notes if t not in every]
            )
        )
        rows.append(row)
    conv = "x".join(map(str, CONV_INPUT))
    return (
        f"cnn_step: one SGD step of LeNet-5 on 1x28x28 float32; conv2d: {conv} with "
        f"{CONV_WEIGHT[0]} {CONV_WEIGHT[2]}x{CONV_WEIGHT[3]} filters, padding 1, forward "
        f"+ backward; median ms (x {REFERENCE})",
        headers,
        rows,
    )


def cnn_paired_table(results, reference):
    headers = ["framework"] + [label for _, _, label in CNN_COLUMNS]
    rows, rounds = [], set()
    for fw in _cnn_rows(results):
        if fw == reference:
            continue
        row = [results.label(fw)]
        for workload, case, _ in CNN_COLUMNS:
            ratios = paired_ratios(
                results.get(fw, workload, **case), results.get(reference, workload, **case)
            )
            row.append("-" if ratios is None else spread(ratios))
            rounds |= {len(ratios)} if ratios else set()
        if any(cell != "-" for cell in row[1:]):
            rows.append(row)
    count = "/".join(str(n) for n in sorted(rounds))
    return (
        f"cnn_step and conv2d: paired ratios to {reference}: each round's median over "
        f"{reference}'s in the same round, median [quartiles] over {count} rounds",
        headers,
        rows,
    )


def cnn_memory_table(results):
    refs = [
        (name, results.get(name, "cnn_step", batch=CNN_MEMORY_BATCH))
        for name in CNN_PAIRED_REFERENCES
    ]
    headers = ["framework", "peak arrays MiB", "counted by"]
    headers += [f"x {name}" for name, _ in refs] + ["peak RSS growth MiB"]
    rows = []
    for fw in results.rows_for("cnn_step"):
        r = results.get(fw, "cnn_step", batch=CNN_MEMORY_BATCH)
        if not (r and r["status"] == "ok"):
            continue
        peak = r.get("traced_peak_mib")
        row = [
            results.label(fw),
            "-" if peak is None else f"{peak:.2f}",
            r.get("traced_by", "not counted"),
        ]
        for _, ref in refs:
            ref_peak = (ref or {}).get("traced_peak_mib")
            row.append(f"{peak / ref_peak:.2f}" if peak is not None and ref_peak else "-")
        row.append(f"{r['peak_mem_mib']:.0f}" if "peak_mem_mib" in r else "-")
        rows.append(row)
    return (
        f"cnn_step b={CNN_MEMORY_BATCH}: peak memory of three steps above the state they "
        "start from (arrays: bytes asked for; RSS growth: what the process held, noisy)",
        headers,
        rows,
    )


# The sequence workloads have no hand-NumPy row: their ratios are to PyTorch eager (the
# issue's target: chainrule within 1.5x of it).
SEQUENCE_REFERENCE = "torch"


def _sequence_cells(results, framework, cell):
    """One cell per sequence workload (``cell(result, case)``; the status when not ok) and
    the row's notes (one that every workload has is said once, without the workload)."""
    cells, notes = [], []
    for workload in SEQUENCE:
        for case in cases(workload):
            r = results.get(framework, workload, **case)
            cells.append(cell(r, case) if r and r["status"] == "ok" else _status(r))
            notes += _case_notes(results, workload, framework, case, workload, SEQUENCE_REFERENCE)
    texts = [text for _, text in notes]
    every = [t for t in dict.fromkeys(texts) if texts.count(t) == len(SEQUENCE)]
    return cells, "; ".join(every + [f"{w}: {t}" for w, t in notes if t not in every])


def sequence_table(results):
    rows = []
    for fw in results.frameworks:
        cells, notes = _sequence_cells(
            results,
            fw,
            lambda r, case: _vs_reference(
                results, r, "median_s", 1e3, reference=SEQUENCE_REFERENCE, **case
            ),
        )
        if any(cell != "-" for cell in cells):
            rows.append([results.label(fw), *cells, notes])
    return (
        "lstm_step: one SGD step of a 1-layer LSTM (input 64, hidden 256, 32 steps, batch 32, "
        "linear head on the last state); transformer_step: one SGD step of a "
        "TransformerEncoderLayer (d_model 128, 4 heads, ff 512, length 64, batch 32, linear "
        f"head on every position); float32, median ms (x {SEQUENCE_REFERENCE})",
        ["framework"] + [f"{w} ms" for w in SEQUENCE] + ["notes"],
        rows,
    )


def sequence_paired_table(results):
    rows, rounds = [], set()
    for fw in results.frameworks:
        if fw == SEQUENCE_REFERENCE:
            continue

        def paired(r, case):
            ratios = paired_ratios(r, results.get(SEQUENCE_REFERENCE, r["workload"], **case))
            rounds.update({len(ratios)} if ratios else ())
            return "-" if ratios is None else spread(ratios)

        cells, _ = _sequence_cells(results, fw, paired)
        if any(cell not in ("-", "n/a", "skipped", "failed") for cell in cells):
            rows.append([results.label(fw), *cells])
    count = "/".join(str(n) for n in sorted(rounds))
    return (
        f"lstm_step and transformer_step: paired ratios to {SEQUENCE_REFERENCE}: each round's "
        f"median over {SEQUENCE_REFERENCE}'s in the same round, median [quartiles] over "
        f"{count} rounds",
        ["framework", *SEQUENCE],
        rows,
    )


TABLES = (
    [
        gemm_table,
        mlp_table,
        mlp_paired_table,
        # PyTorch eager: the plain and compiled steps' targets (#19).
        functools.partial(mlp_paired_table, reference="torch"),
        mlp_efficiency_table,
        small_ops_table,
        deep_chain_table,
        cnn_table,
    ]
    + [functools.partial(cnn_paired_table, reference=ref) for ref in CNN_PAIRED_REFERENCES]
    + [cnn_memory_table, sequence_table, sequence_paired_table, train_table]
)


def machine_line(data):
    m = data.get("machine", {})
    if m.get("status") == "failed":
        return f"machine: unknown ({m.get('error')})"
    line = (
        f"{m.get('cpu')}, {m.get('cores')} cores; NumPy {m.get('numpy')} "
        f"(BLAS: {m.get('blas')}); Python {m.get('python')}; {m.get('date')}"
    )
    line += "; quick run (few repeats)" if data.get("quick") else ""
    rounds = data.get("rounds", 1)
    if rounds > 1:
        short = sorted(
            {r["workload"] for r in data.get("results", ())} & set(SHORT), key=SHORT.index
        ) or list(SHORT)
        line += (
            f"; {', '.join(short)}: fastest of {rounds} rounds, every framework in turn each round"
        )
        extra = {
            f"{r['workload']} {describe(r['workload'], r['case'])}": len(r["round_medians_s"])
            for r in data.get("results", [])
            if len(r.get("round_medians_s", ())) > rounds
        }
        if extra:
            line += (
                f", and more where a framework's fastest round was not confirmed by "
                f"another within {100 * CONFIRM:.0f}% ("
                + ", ".join(f"{case}: {n}" for case, n in extra.items())
                + ")"
            )
    busy = [r["busy_share"] for r in data.get("results", []) if r.get("busy_share")]
    if busy and max(busy) > BUSY_WARNING:
        line += (
            f". WARNING: other processes used up to {100 * max(busy):.0f}% of the CPUs "
            f"(median {100 * statistics.median(busy):.0f}%) between cases: timings "
            "are inflated and noisy"
        )
    return line


def _tables(data):
    results = Results(data)
    for make in TABLES:
        title, headers, rows = make(results)
        if rows:
            yield title, headers, rows


def as_text(data):
    out = [machine_line(data), ""]
    for title, headers, rows in _tables(data):
        widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
        out.append(title)
        # Names and notes read left to right; numbers line up on the right.
        left = [i == 0 or h == "notes" for i, h in enumerate(headers)]
        for row in [headers, ["-" * w for w in widths]] + rows:
            cells = [
                str(c).ljust(w) if lft else str(c).rjust(w) for c, w, lft in zip(row, widths, left)
            ]
            out.append("  ".join(cells).rstrip())
        out.append("")
    return "\n".join(out)


def as_markdown(data):
    out = [
        "# chainrule benchmarks",
        "",
        f"Machine: {machine_line(data)}",
        "",
        f"Ratios are median times divided by the `{REFERENCE}` (hand-written NumPy) "
        "median measured in the same run; lower is better. Regenerate with "
        "`python -m bench --rounds 5 --markdown bench/RESULTS.md`.",
        "",
    ]
    for title, headers, rows in _tables(data):
        out += [
            f"## {title}",
            "",
            "| " + " | ".join(headers) + " |",
            "|"
            + "|".join("---" if i == 0 or h == "notes" else "---:" for i, h in enumerate(headers))
            + "|",
        ]
        out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)
