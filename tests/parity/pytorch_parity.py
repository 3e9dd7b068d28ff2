#!/usr/bin/env python3
"""Our training steps against PyTorch's, on the same weights and the same batch.

For each model file: `sire info --spec` writes the model out layer by layer (the SIRe decoders
included), with dropout set to 0 so that both sides compute the same function. `parity_step`
(tests/parity/parity_step.cpp) trains it for a few steps on a fixed random batch with our engine,
once in float32 and once in float64, and writes its initial weights, its first gradients, each
step's losses and its weights and batch-norm statistics after the first and the last step. This
script rebuilds the same network in PyTorch from the same layer list (torch.nn.functional, one
call per layer), loads our initial weights, takes the same steps with torch.optim.SGD (Nesterov
momentum 0.9, weight decay), in float64 and in float32, and compares:
  - float64, ours against PyTorch's: every tensor of every step, within --f64-rtol (relative,
    per tensor). Any difference of definition (a convolution's padding, a batch norm's variance,
    a skip in the wrong place, a loss's mean, the optimizer's momentum) shows here;
  - float32: the forward pass (the first step's losses, the batch's statistics) no farther from
    PyTorch's float64 than --factor times PyTorch's own float32, or --rtol; the gradients and the
    later losses only within --coarse-rtol (see check_model for why).
Nothing is shared with our engine but the layer list and the initial numbers.

  pytorch_parity.py --sire build/sire --step build/tests/parity_step models/sire-cnn.json ...
Exit code 0 when every model matches, 1 when one does not (each mismatch is printed).
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

NP_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], NP_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    names = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class SpecNet:
    """The network of a written-out model file, as one torch.nn.functional call per layer. The
    parameters are our names' tensors (conv weight [out, in, k, k], transposed conv [in, out, k, k],
    linear [out, in]: PyTorch's layouts), so no shape is inferred here."""

    def __init__(self, spec, init, dtype):
        self.layers = spec["layers"]
        self.outputs = spec["outputs"]
        self.params, self.buffers = {}, {}
        for name, a in init.items():
            t = torch.tensor(np.array(a), dtype=dtype)
            if name.endswith(".running_mean") or name.endswith(".running_var"):
                self.buffers[name] = t
            else:
                self.params[name] = t.requires_grad_(True)

    def p(self, layer, what):
        return self.params.get(layer["name"] + "." + what)

    def bn(self, prefix, x, eps=1e-5, momentum=0.1):
        return F.batch_norm(x, self.buffers[prefix + ".running_mean"], self.buffers[prefix + ".running_var"],
                            self.params[prefix + ".weight"], self.params[prefix + ".bias"], True, momentum, eps)

    def residual_block(self, l, x):
        """ResNet's blocks (models/blocks/residual_block.h): conv + BN stages with ReLU between,
        plus the identity or a 1x1 projection + BN, then ReLU; transposed: the stages reversed."""
        name, t, s = l["name"], l["type"], l.get("stride", 1)
        transposed = t.endswith("_t")
        n = 3 if t.startswith("bottleneck") else 2
        strides = [1] * n
        strides[1 if n == 3 else (1 if transposed else 0)] = s
        op = l["size"][0] - ((x.shape[2] - 1) * s + 1) if transposed else 0

        def conv(prefix, h, stride):
            w = self.params[prefix + ".weight"]
            if transposed:
                return F.conv_transpose2d(h, w, None, stride, w.shape[2] // 2, op if stride > 1 else 0)
            return F.conv2d(h, w, None, stride, w.shape[2] // 2)

        h = x
        for i in range(n):
            h = self.bn(f"{name}.bn{i + 1}", conv(f"{name}.conv{i + 1}", h, strides[i]))
            if i + 1 < n:
                h = F.relu(h)
        if name + ".downsample.0.weight" in self.params:
            x = self.bn(name + ".downsample.1", conv(name + ".downsample.0", x, s))
        h = h + x
        return F.relu(h) if l.get("final_relu", True) else h

    def basic_conv(self, prefix, x, transposed):
        """torchvision's BasicConv2d (models/blocks/inception.h): conv + BN (eps 1e-3) + ReLU, or
        a transposed conv with a bias and nothing after it at a reconstruction's end."""
        w, b = self.params[prefix + ".conv.weight"], self.params.get(prefix + ".conv.bias")
        pad = w.shape[2] // 2
        y = F.conv_transpose2d(x, w, b, 1, pad) if transposed else F.conv2d(x, w, b, 1, pad)
        return F.relu(self.bn(prefix + ".bn", y, eps=1e-3)) if prefix + ".bn.weight" in self.params else y

    def inception(self, l, x):
        name = l["name"]
        pool = lambda h: F.max_pool2d(h, 3, 1, 1, ceil_mode=True)
        if l["type"] == "inception":
            b1 = self.basic_conv(name + ".branch1.0", x, False)
            b2 = self.basic_conv(name + ".branch2.1", self.basic_conv(name + ".branch2.0", x, False), False)
            b3 = self.basic_conv(name + ".branch3.1", self.basic_conv(name + ".branch3.0", x, False), False)
            b4 = self.basic_conv(name + ".branch4.1", pool(x), False)
            return torch.cat([b1, b2, b3, b4], 1)
        # The inverse: the input split into the four branches' widths, each run backwards, summed.
        parts = torch.split(x, [l["ch1x1"], l["ch3x3"], l["ch5x5"], l["pool_proj"]], 1)
        y = self.basic_conv(name + ".branch1.0", parts[0], True)
        for i in (2, 3):
            h = self.basic_conv(f"{name}.branch{i}.0", parts[i - 1], True)
            y = y + self.basic_conv(f"{name}.branch{i}.1", h, True)
        return y + pool(self.basic_conv(name + ".branch4.0", parts[3], True))

    def forward(self, x):
        vals = {"input": x}
        for l in self.layers:
            t, ins = l["type"], [vals[i] for i in l["inputs"]]
            a = ins[0]
            if t == "conv":
                y = F.conv2d(a, self.p(l, "weight"), self.p(l, "bias"), l.get("stride", 1), l.get("padding", 0))
            elif t == "conv_transpose":
                k, s, pad = l["kernel"], l.get("stride", 1), l.get("padding", 0)
                if "size" in l:
                    op = l["size"][0] - ((a.shape[2] - 1) * s - 2 * pad + k)
                else:
                    op = l.get("output_padding", 0)
                y = F.conv_transpose2d(a, self.p(l, "weight"), self.p(l, "bias"), s, pad, op)
            elif t == "batchnorm":
                y = self.bn(l["name"], a, l.get("eps", 1e-5), l.get("momentum", 0.1))
            elif t == "relu":
                y = F.relu(a)
            elif t == "shortcut":
                y = a + F.pad(ins[1], (0, 0, 0, 0, 0, a.shape[1] - ins[1].shape[1]))
            elif t == "add":
                y = sum(ins[1:], a)
            elif t == "concat":
                y = torch.cat(ins, 1)
            elif t == "maxpool":
                k = l["kernel"]
                y = F.max_pool2d(a, k, l.get("stride", k), l.get("padding", 0), ceil_mode=l.get("ceil_mode", False))
            elif t == "avgpool":
                y = F.adaptive_avg_pool2d(a, l["size"])
            elif t == "upsample":
                y = F.interpolate(a, size=tuple(l["size"]), mode="nearest")
            elif t == "flatten":
                y = torch.flatten(a, 1)
            elif t == "linear":
                y = F.linear(a, self.p(l, "weight"), self.p(l, "bias"))
            elif t in ("basic_block", "bottleneck", "basic_block_t", "bottleneck_t"):
                y = self.residual_block(l, a)
            elif t in ("inception", "inception_t"):
                y = self.inception(l, a)
            elif t == "dropout":
                assert l.get("p", 0.5) == 0, "parity runs without dropout"
                y = a
            else:
                raise SystemExit(f"pytorch_parity.py: layer '{l['name']}' has type '{t}', which this "
                                 "check does not rebuild in PyTorch")
            vals[l["name"]] = y
        return vals

    def loss(self, x, y):
        vals = self.forward(x)
        ce = F.cross_entropy(vals[self.outputs["logits"]], y)
        total = ce
        for aux in self.outputs.get("aux", []):
            total = total + aux["weight"] * F.cross_entropy(vals[aux["layer"]], y)
        mse = [F.mse_loss(vals[r], x) for r in self.outputs.get("reconstructions", [])]
        if mse:
            total = total + self.outputs["lambda"] * sum(mse)
        return total, ce, mse


def torch_steps(a, spec, init, x, y, dtype):
    """PyTorch's steps from our initial numbers, in `dtype`: the losses of every step (loss/...),
    the first step's gradients (grad/...), the parameters and statistics after the first step
    (step1/...) and after the last (final/...): the names parity_step writes."""
    net = SpecNet(spec, {k: v.astype(np.float64) for k, v in init.items()}, dtype)
    names = list(net.params)
    opt = torch.optim.SGD([net.params[n] for n in names], lr=a.lr, momentum=0.9, nesterov=True,
                          weight_decay=a.weight_decay)
    xt, yt = torch.tensor(x, dtype=dtype), torch.tensor(y).long()
    out = {}
    for s in range(a.steps):
        total, ce, mse = net.loss(xt, yt)
        opt.zero_grad()
        total.backward()
        parts = [("total", total), ("ce", ce)] + [(f"mse{i}", m) for i, m in enumerate(mse)]
        for name, v in parts:
            out.setdefault("loss/" + name, []).append(float(v))
        if s == 0:
            for n in names:
                if net.params[n].grad is not None:
                    out["grad/" + n] = net.params[n].grad.double().numpy().copy()
        opt.step()
        with torch.no_grad():
            for n, t in list(net.params.items()) + list(net.buffers.items()):
                for prefix, when in (("step1/", 0), ("final/", a.steps - 1)):
                    if s == when:
                        out[prefix + n] = t.double().numpy().copy()
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def check_model(a, model, tmp):
    stem = os.path.splitext(os.path.basename(model))[0]
    spec = json.loads(subprocess.check_output(
        [a.sire, "info", model, "--spec", "--input", a.input, "--classes", str(a.classes)]))
    for l in spec["layers"]:
        if l["type"] == "dropout":
            l["p"] = 0.0
    spec_path = os.path.join(tmp, stem + ".json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    c, h, w = (int(v) for v in a.input.split(","))
    rng = np.random.default_rng(a.seed)
    x = rng.standard_normal((a.batch, c, h, w)).astype(np.float32)
    y = (np.arange(a.batch) % a.classes).astype(np.int32)
    batch_path = os.path.join(tmp, stem + ".batch")
    write_safetensors(batch_path, {"x": x, "y": y})
    ours = {}
    for precision in ("f64", "f32"):
        out_path = os.path.join(tmp, f"{stem}.{precision}")
        subprocess.check_call([a.step, spec_path, batch_path, out_path, str(a.steps), str(a.lr),
                               str(a.weight_decay), precision])
        ours[precision] = {k: v.astype(np.float64) for k, v in read_safetensors(out_path).items()}
    init = {k[len("init/"):]: v for k, v in ours["f32"].items() if k.startswith("init/")}
    if a.rms:
        # The size of chosen layers' outputs at the initial weights (PyTorch float32, this batch).
        with torch.no_grad():
            vals = SpecNet(spec, init, torch.float32).forward(torch.tensor(x))
        for name in a.rms.split(","):
            if name not in vals:
                print(f"{stem}: --rms: no layer named '{name}'")
                continue
            print(f"{stem}: RMS of {name}'s output at initialization: "
                  f"{vals[name].pow(2).mean().sqrt().item():.3g}")
    ref = torch_steps(a, spec, init, x, y, torch.float64)
    theirs = torch_steps(a, spec, init, x, y, torch.float32)
    failures, worst = [], {}

    def compare(group, key, mine, r, t, rtol):
        """Passes within rtol of |float64|, or (with t, PyTorch's float32) within factor times
        PyTorch's own distance from float64."""
        d_ours, size = np.linalg.norm(mine - r), np.linalg.norm(r)
        d_torch = np.linalg.norm(t - r) if t is not None else 0.0
        floor = max(size, a.atol * np.sqrt(r.size))  # a gradient that is zero (a bias before a batch norm)
        worst[group] = max(worst.get(group, (0.0, 0.0)), (d_ours / floor, d_torch / floor))
        if not d_ours <= a.factor * d_torch + rtol * size + a.atol * np.sqrt(r.size):
            failures.append(f"{group}, {key}: |ours - PyTorch float64| = {d_ours:.3g}, |float64| = {size:.3g}" +
                            (f", |PyTorch float32 - float64| = {d_torch:.3g}" if t is not None else ""))

    # Where PyTorch's own double-precision steps blow up (SIRe-ResNet34's do, at batch 32), only
    # the steps before are compared: from there on each step multiplies every difference, and
    # soon both sides compute with infinities.
    losses = np.array([v for k, v in ref.items() if k.startswith("loss/")])
    sane = np.all(np.isfinite(losses) & (np.abs(losses) <= 1e4 * np.abs(losses[:, :1]) + 1.0), axis=0)
    finite = a.steps if sane.all() else int(np.argmin(sane))
    if finite < a.steps:
        print(f"{stem}: PyTorch's float64 losses blow up (over 10^4 times the first step's, or not "
              f"finite) from step {finite + 1}: comparing the first {finite} step(s) only")
    for key, r in ref.items():
        if key not in ours["f64"] or key not in ours["f32"]:
            failures.append(f"{key}: PyTorch has it, we do not")
            continue
        mine64, mine, t = ours["f64"][key], ours["f32"][key], theirs[key]
        if key.startswith("loss/"):
            r, mine64, mine, t = r[:finite], mine64[:finite], mine[:finite], t[:finite]
        elif key.startswith("final/") and finite < a.steps:
            continue
        # Double precision: the same definitions give the same numbers, every step, every tensor.
        compare("float64", key, mine64, r, None, a.f64_rtol)
        # Single precision: the forward pass (the first losses, the batch's statistics) must be
        # as close as PyTorch's own; gradients and what follows them can differ more, because a
        # ReLU input within rounding of zero goes either way (see docs/architecture.md), so they
        # are held to a coarse bound that still catches a wrong kernel.
        kind, name = key.split("/", 1)
        if kind == "loss":
            compare("float32 forward", key + "[1]", mine[:1], r[:1], t[:1], a.rtol)
            if len(r) > 1:
                compare("float32 later losses", key + "[2:]", mine[1:], r[1:], t[1:], a.coarse_rtol)
        elif kind == "step1" and name.endswith(("running_mean", "running_var")):
            compare("float32 forward", key, mine, r, t, a.rtol)
        elif kind == "grad":
            compare("float32 gradients", key, mine, r, t, a.coarse_rtol)
    summary = "; ".join(f"{k} {v[0]:.1e}" + (f" ({v[1]:.1e})" if k != "float64" else "")
                        for k, v in worst.items())
    print(f"{stem}: {len(init)} tensors, {a.steps} steps. Largest relative difference from PyTorch's "
          f"float64 steps, ours (PyTorch's float32 on that tensor): {summary}")
    if a.show_losses:
        for key in sorted(k for k in ref if k.startswith("loss/")):
            print(f"  {key[5:]:>6}  ours " + " ".join(f"{v:10.5g}" for v in ours["f32"][key]) +
                  "   PyTorch float64 " + " ".join(f"{v:10.5g}" for v in ref[key]))
    for f in failures[:20]:
        print(f"  MISMATCH {f}")
    if len(failures) > 20:
        print(f"  ... and {len(failures) - 20} more mismatches")
    return not failures


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--sire", required=True, help="the sire command line")
    p.add_argument("--step", required=True, help="the parity_step program")
    p.add_argument("--input", default="1,32,32")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--factor", type=float, default=10.0,
                   help="ours may stray this many times as far from float64 as PyTorch's float32")
    p.add_argument("--f64-rtol", type=float, default=1e-7, help="double precision: ours against PyTorch's")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="single precision, the forward pass (Winograd's transforms cost a digit)")
    p.add_argument("--coarse-rtol", type=float, default=0.2,
                   help="single precision, gradients and later losses (see check_model)")
    p.add_argument("--atol", type=float, default=1e-7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--show-losses", action="store_true", help="print each step's losses, ours and PyTorch's")
    p.add_argument("--rms", default="", help="LAYER,...: print the RMS of these layers' outputs at initialization")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for m in a.models:
            ok = check_model(a, m, tmp) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
