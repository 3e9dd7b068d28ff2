"""`plots curves`: each task's training loss and the top-1 error per epoch, for several runs.

Left, one panel per group of runs: the loss terms as the trainer averaged them over each epoch
(the total, the classifier's CE, every auto-encoder's MSE, every auxiliary classifier's CE),
on a log scale by default because CE (about 1) and MSE (about 0.01) differ by orders of
magnitude. Right, one panel for all groups: top-1 error, train dashed and validation solid,
so that runs compare at a glance. A group of several runs draws its mean and a ± std band.
"""

from matplotlib.ticker import MaxNLocator

from .runs import by_epoch, mean_std


def _plot(ax, epochs, values, **style):
    mean, std = mean_std(values)
    (line,) = ax.plot(epochs, mean, marker="o", markersize=3, **style)
    if any(len(v) > 1 for v in values):
        ax.fill_between(epochs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def loss_terms(group):
    """(label, value(run, epoch)) for every loss term that some run of the group logged."""
    mse_keys, aux = [], 0
    for run in group.runs:
        for e in run.epochs:
            mse_keys += [k for k in e["mse"] if k not in mse_keys]
            aux = max(aux, len(e["aux_ce"]))
    terms = [("total loss", lambda r, e: e["train"].get("loss")),
             ("CE", lambda r, e: e["train"].get("ce"))]
    for key in mse_keys:
        terms.append((f"MSE {key.upper()}", lambda r, e, key=key: e["mse"].get(key)))
    for i in range(aux):
        terms.append((f"aux CE {i + 1}", lambda r, e, i=i: e["aux_ce"][i] if i < len(e["aux_ce"]) else None))
    return terms


def draw(plt, groups, out, log_loss=True, title=None):
    n = len(groups)
    fig = plt.figure(figsize=(13, max(3.6, 3.0 * n)), layout="constrained")
    grid = fig.add_gridspec(n, 2)
    err = fig.add_subplot(grid[:, 1])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, group in enumerate(groups):
        ax = fig.add_subplot(grid[i, 0])
        for label, value in loss_terms(group):
            epochs, values = by_epoch(group, value)
            if epochs:
                style = {"color": "black", "linestyle": ":"} if label == "total loss" else {}
                _plot(ax, epochs, values, label=label, **style)
        ax.set_title(f"{group.legend()}: training losses", fontsize="medium")
        ax.set_yscale("log" if log_loss else "linear")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="small")

        color = colors[i % len(colors)]
        for split, linestyle in (("train", "--"), ("val", "-")):
            section = "train" if split == "train" else "val"
            epochs, values = by_epoch(group, lambda r, e: e[section].get("top1_err"))
            if epochs:
                _plot(err, epochs, values, color=color, linestyle=linestyle, label=f"{group.legend()}, {split}")
    err.set_title("Top-1 error (dashed: training, solid: validation)", fontsize="medium")
    err.set_xlabel("epoch")
    err.set_ylabel("top-1 error (%)")
    err.xaxis.set_major_locator(MaxNLocator(integer=True))
    err.grid(True, alpha=0.3)
    err.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.savefig(out, dpi=110)
    plt.close(fig)
