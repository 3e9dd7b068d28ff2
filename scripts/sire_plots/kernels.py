"""`plots kernels`: our convolution kernels' time over cuDNN's, pass by pass.

Reads what `bench/bench_conv_cuda --benchmark_out=FILE.json --benchmark_out_format=json` writes
(scripts/gpu-check keeps these under docs/gpu/). One panel per math (FP32, TF32, 3xTF32), one
bar per file at each layer and pass, on a log scale so that 2x slower and 2x faster look alike,
and the target (ours / cuDNN <= 1.05) drawn across. Each ratio is within its own file's run,
cuDNN timed beside ours, since cuDNN's own times move between runs.
"""

import json
import os

from .runs import PlotError

MATHS = ("fp32", "tf32", "3xtf32")
PASSES = {"fwd": "y", "bwd_data": "dx", "bwd_weight": "dw"}


class Bench:
    """One benchmark file: its label, the device it ran on and its ratios by (layer, pass, math)."""

    def __init__(self, path, label, device, ratios):
        self.path, self.label, self.device, self.ratios = path, label, device, ratios


def _load(path, label):
    if not os.path.isfile(path):
        raise PlotError(f"{path}: no such file")
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise PlotError(f"{path}: cannot be read ({e})")
    except json.JSONDecodeError as e:
        raise PlotError(f"{path}:{e.lineno}: not valid JSON ({e.msg})")
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise PlotError(f"{path}: expected Google Benchmark's JSON, an object with a 'benchmarks' list")
    ratios = {}
    for i, row in enumerate(doc["benchmarks"]):
        where = f"{path}: benchmarks[{i}]"
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise PlotError(f"{where}: expected an object with a 'name'")
        parts = row["name"].split("/")
        if parts[0] not in ("conv2d", "conv_transpose2d") or row.get("error_occurred"):
            continue  # another kernel, or a row the benchmark itself refused
        if len(parts) < 5 or parts[3] not in PASSES or parts[4] not in MATHS:
            raise PlotError(f"{where}: name '{row['name']}' is not KIND/LAYER/SHAPE/PASS/MATH")
        ratio = row.get("vs_cuDNN")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0:
            raise PlotError(f"{where} ({row['name']}): 'vs_cuDNN' must be a positive number")
        ratios[(parts[1], parts[3], parts[4])] = float(ratio)
    if not ratios:
        raise PlotError(f"{path}: no convolution rows (conv2d/... or conv_transpose2d/...) with a 'vs_cuDNN'")
    context = doc.get("context")
    return Bench(path, label, context.get("device", "") if isinstance(context, dict) else "", ratios)


def load(paths, labels=None):
    """The files, each labelled by --labels or by its own name; a faulty one raises PlotError."""
    if labels is not None and len(labels) != len(paths):
        raise PlotError(f"--labels: {len(labels)} labels for {len(paths)} files")
    benches = []
    for i, path in enumerate(paths):
        label = labels[i] if labels else os.path.splitext(os.path.basename(path))[0]
        benches.append(_load(path, label))
    return benches


def draw(plt, benches, out, target=1.05, title=None):
    from matplotlib.ticker import FuncFormatter
    maths = [m for m in MATHS if any(k[2] == m for b in benches for k in b.ratios)]
    # Layers in the order they first appear (the benchmark's: encoders, then decoders).
    layers = []
    for b in benches:
        for layer, _, _ in b.ratios:
            if layer not in layers:
                layers.append(layer)
    slots = [(layer, p) for layer in layers for p in PASSES]
    per_math = {m: [b for b in benches if any(k[2] == m for k in b.ratios)] for m in maths}
    most = max(len(v) for v in per_math.values())
    fig, axes = plt.subplots(len(maths), 1, squeeze=False,
                             figsize=(min(22, max(10, 0.2 * len(slots) * most + 2)), 3.2 * len(maths)))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, math in zip(axes[:, 0], maths):
        shown = per_math[math]
        width = 0.8 / len(shown)
        for j, b in enumerate(shown):
            xs, ys = [], []
            for x, (layer, p) in enumerate(slots):
                r = b.ratios.get((layer, p, math))
                if r is not None:
                    xs.append(x - 0.4 + width * (j + 0.5))
                    ys.append(r)
            # Bars grow from 1 (a tie), up when slower than cuDNN, down when faster.
            ax.bar(xs, [y - 1 for y in ys], width=width, bottom=1, color=colors[benches.index(b) % len(colors)],
                   label=b.label)
        ax.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:g}")
        ax.axhline(1.0, color="grey", linewidth=0.6)
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.5, 2 rather than 5x10^-1, 2x10^0
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_ylabel(f"{math.upper().replace('XTF', 'xTF')}: ours / cuDNN")
        ax.set_xticks(range(len(slots)))
        ax.set_xticklabels([f"{layer} {PASSES[p]}" for layer, p in slots], rotation=90, fontsize=7)
        ax.set_xlim(-0.6, len(slots) - 0.4)
        for x in range(3, len(slots), 3):  # a faint line between layers
            ax.axvline(x - 0.5, color="grey", linewidth=0.3, alpha=0.5)
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(axis="y", which="both", alpha=0.3)
    devices = sorted({b.device for b in benches if b.device})
    head = title or "Convolutions, ours / cuDNN by pass (y: forward, dx: input gradient, dw: weight gradient)"
    fig.suptitle(head + (f"\n{'; '.join(devices)}" if devices else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
