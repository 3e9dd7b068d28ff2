"""Reading `sire train` run folders, strictly, and grouping runs that are seeds of one configuration.

A run folder holds config.json (what was asked) and metrics.jsonl, one JSON object per finished
epoch (train/trainer.cpp writes it):
  {"epoch": 3, "lr": .., "train": {"loss", "ce", "top1_err", "top5_err", "mse": {"ae1": ..},
   "aux_ce": [..]}, "val": {"ce", "top1_err", "top5_err"}, "grad": {"conv1a.weight": .., ..}}
Every fault in a file is a PlotError naming the file and, for metrics, the line: a picture drawn
from a half-read file would look plausible and be wrong.
"""

import json
import math
import os
import re


class PlotError(Exception):
    """A fault in the user's input; scripts/plots prints it without a traceback."""


def _number(value, where, key):
    # null is how nlohmann::json writes NaN; bool is an int to Python but never a metric.
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlotError(f"{where}: '{key}' must be a number, got {json.dumps(value)}")
    return float(value)


def _numbers(obj, where, key):
    if not isinstance(obj, dict):
        raise PlotError(f"{where}: '{key}' must be an object of numbers, got {json.dumps(obj)[:80]}")
    return {k: _number(v, where, f"{key}.{k}") for k, v in obj.items()}


def _parse_epoch(record, where):
    """Checks one metrics line and returns it with numbers as floats (NaN for null)."""
    if not isinstance(record, dict):
        raise PlotError(f"{where}: expected a JSON object, got {type(record).__name__}")
    epoch = record.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise PlotError(f"{where}: 'epoch' must be a positive integer, got {json.dumps(epoch)}")
    train = record.get("train")
    if not isinstance(train, dict):
        raise PlotError(f"{where}: no 'train' object")
    out = {"epoch": epoch, "train": {}, "mse": {}, "aux_ce": [], "val": {}, "grad": {}}
    for key in ("ce", "top1_err"):
        if key not in train:
            raise PlotError(f"{where}: no 'train.{key}'")
    for key in ("loss", "ce", "top1_err", "top5_err"):
        if key in train:
            out["train"][key] = _number(train[key], where, f"train.{key}")
    if "mse" in train:
        out["mse"] = _numbers(train["mse"], where, "train.mse")
    if "aux_ce" in train:
        if not isinstance(train["aux_ce"], list):
            raise PlotError(f"{where}: 'train.aux_ce' must be a list of numbers")
        out["aux_ce"] = [_number(v, where, "train.aux_ce") for v in train["aux_ce"]]
    if "val" in record:
        out["val"] = _numbers(record["val"], where, "val")
    if "grad" in record:
        out["grad"] = _numbers(record["grad"], where, "grad")  # dict keeps the file's order
    return out


def read_metrics(path):
    """The epochs of a metrics.jsonl, in order; blank lines are ignored."""
    if not os.path.isfile(path):
        folder = os.path.dirname(path) or "."
        hint = "" if os.path.isdir(folder) else f" ({folder} does not exist)"
        raise PlotError(f"{path}: no such file{hint}; a run folder of `sire train` holds one")
    epochs = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except (OSError, UnicodeDecodeError) as e:
        raise PlotError(f"{path}: cannot read: {e}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise PlotError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        epoch = _parse_epoch(record, where)
        if epochs and epoch["epoch"] <= epochs[-1]["epoch"]:
            raise PlotError(f"{where}: epoch {epoch['epoch']} after epoch {epochs[-1]['epoch']} "
                            "(epochs must go up)")
        epoch["line"] = number
        epochs.append(epoch)
    if not epochs:
        raise PlotError(f"{path}: empty: the run has not finished an epoch yet")
    return epochs


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise PlotError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlotError(f"{path}: cannot read: {e}") from None


class Run:
    """One run folder (or one metrics.jsonl file) and what it says about itself."""

    def __init__(self, path):
        if os.path.isdir(path):
            self.folder, self.metrics_path = path, os.path.join(path, "metrics.jsonl")
        elif os.path.isfile(path):
            self.folder, self.metrics_path = os.path.dirname(path) or ".", path
        else:
            raise PlotError(f"{path}: no such run folder or metrics file")
        self.epochs = read_metrics(self.metrics_path)
        config_path = os.path.join(self.folder, "config.json")
        self.config = _read_json(config_path) if os.path.isfile(config_path) else {}
        if not isinstance(self.config, dict):
            raise PlotError(f"{config_path}: expected a JSON object")

    def default_label(self):
        """The model file's name and any override of it: seeds of one setting share it."""
        model = self.config.get("model")
        if not isinstance(model, str) or not model:
            return os.path.basename(os.path.normpath(self.folder))
        label = re.sub(r"\.json$", "", os.path.basename(model))
        if "lambda" in self.config:
            lam = self.config["lambda"]
            label += f" λ={lam:g}" if isinstance(lam, (int, float)) else f" λ={lam}"
        if "decoder_init" in self.config:
            label += f" {self.config['decoder_init']} init"
        return label

    def where(self, epoch):
        return f"{self.metrics_path}:{epoch['line']}"


class Group:
    """Runs drawn as one line: one run, or several seeds shown as mean ± std."""

    def __init__(self, label):
        self.label, self.runs = label, []

    def legend(self):
        n = len(self.runs)
        return self.label if n == 1 else f"{self.label} (mean ± std of {n} runs)"


def load_groups(paths, labels=None):
    """Runs grouped by label, in the order labels first appear; labels default to the model."""
    if labels is not None and len(labels) != len(paths):
        raise PlotError(f"--labels: {len(labels)} labels for {len(paths)} runs (one label per run; "
                        "runs with the same label are averaged)")
    groups = {}
    for i, path in enumerate(paths):
        run = Run(path)
        label = labels[i] if labels is not None else run.default_label()
        groups.setdefault(label, Group(label)).runs.append(run)
    return list(groups.values())


def by_epoch(group, value):
    """Epoch numbers and, per epoch, the values `value(run, epoch)` of the group's runs (NaN and
    missing values left out): the epochs of runs of different lengths line up by number."""
    table = {}
    for run in group.runs:
        for epoch in run.epochs:
            v = value(run, epoch)
            if v is not None and not math.isnan(v):
                table.setdefault(epoch["epoch"], []).append(v)
    keys = sorted(table)
    return keys, [table[k] for k in keys]


def mean_std(values_per_epoch):
    """Mean and sample standard deviation (0 for a single run) of each epoch's values."""
    means, stds = [], []
    for values in values_per_epoch:
        n = len(values)
        mean = sum(values) / n
        means.append(mean)
        stds.append(math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0)
    return means, stds
