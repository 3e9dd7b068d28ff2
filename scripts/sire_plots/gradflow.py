"""`plots gradflow`: the paper's Fig. 3, the mean gradient magnitude of each convolution.

For every 4-D weight, the trainer logs mean |dL/dw| over the weight's elements, averaged over
an epoch's steps ("grad" in metrics.jsonl, in the network's order). Here each group of runs is
one line over the layers: averaged over all epochs by default, or one chosen epoch; several
runs of a group give mean ± std error bars. With --layers encoder (the paper's figure) the
decoders' transposed convolutions (ae<i>.*) are left out.
"""

import math
import re

from .runs import PlotError, mean_std

_DECODER = re.compile(r"ae\d+\.")


def _layer_order(groups, layers):
    """The union of the runs' weights, in order of first appearance: a baseline and a SIRe run
    share their encoder's names, and the decoders come after."""
    order = []
    for group in groups:
        for run in group.runs:
            if not any(e["grad"] for e in run.epochs):
                raise PlotError(f"{run.metrics_path}: no line has a 'grad' object, so there are no "
                                "gradient magnitudes to draw")
            for e in run.epochs:
                for name in e["grad"]:
                    if name not in order and (layers == "all" or not _DECODER.match(name)):
                        order.append(name)
    if not order:
        raise PlotError("no encoder convolution has a gradient logged in these runs (try --layers all)")
    return order


def _run_value(run, layer, epoch):
    """The run's mean |grad| of a layer: over all its epochs, or at `epoch`; None if absent."""
    if epoch is None:
        values = [e["grad"][layer] for e in run.epochs if layer in e["grad"] and not math.isnan(e["grad"][layer])]
        return sum(values) / len(values) if values else None
    for e in run.epochs:
        if e["epoch"] == epoch:
            return e["grad"].get(layer)
    last = run.epochs[-1]["epoch"]
    raise PlotError(f"{run.metrics_path}: has no epoch {epoch} (it holds epochs "
                    f"{run.epochs[0]['epoch']} to {last})")


def _part(name):
    """"encoder", or the decoder a weight belongs to ("ae2")."""
    m = _DECODER.match(name)
    return m.group(0)[:-1] if m else "encoder"


def _short(name):
    return name[: -len(".weight")] if name.endswith(".weight") else name


def draw(plt, groups, out, layers="encoder", epoch=None, yscale="log", title=None):
    order = _layer_order(groups, layers)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.5 * len(order) + 3.0), 4.8), layout="constrained")
    n_groups = len(groups)
    width = 0.5 / max(n_groups, 1)  # a small offset per group keeps error bars apart
    for g, group in enumerate(groups):
        xs, means, stds = [], [], []
        for x, layer in enumerate(order):
            values = [v for v in (_run_value(r, layer, epoch) for r in group.runs) if v is not None]
            if x > 0 and _part(layer) != _part(order[x - 1]):
                xs.append(x - 0.5)  # no line from the encoder into a decoder, or between decoders
                means.append(math.nan)
                stds.append(math.nan)
            if values:
                m, s = mean_std([values])
                xs.append(x + (g - (n_groups - 1) / 2) * width)
                means.append(m[0])
                stds.append(s[0])
        several = len(group.runs) > 1
        ax.errorbar(xs, means, yerr=stds if several else None, marker="o", markersize=4, capsize=3,
                    label=group.legend())
    for x in range(1, len(order)):
        if _part(order[x]) != _part(order[x - 1]):
            ax.axvline(x - 0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([_short(n) for n in order], rotation=45 if len(order) > 8 else 0,
                       ha="right" if len(order) > 8 else "center")
    ax.set_yscale(yscale)
    ax.set_xlabel("convolution, in network order")
    ax.set_ylabel("mean |gradient| of the weights")
    when = f"epoch {epoch}" if epoch is not None else "averaged over epochs"
    ax.set_title(title or f"Gradient flow ({when})", fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(out, dpi=110)
    plt.close(fig)
