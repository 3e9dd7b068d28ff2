#!/usr/bin/env python3
"""The SIRe-CNN and Baseline-CNN training steps in PyTorch, for side-by-side timing with
`sire time` (bench/compare_pytorch.sh runs both, interleaved, in one go).

The networks are those of docs/sire.md (models/baseline-cnn.json, models/sire-cnn.json):
four blocks of (conv3x3 + BN + ReLU) x 2 + max-pool with residual shortcuts (zero-padded
channels), the 1024-1024-classes head, and four decoders of transposed 3x3 convs with long skips.
The decoders can be spelled with nn.ConvTranspose2d (what the paper's PyTorch code would use) or
with the equivalent nn.Conv2d (a stride-1 transposed conv is a conv with the kernel flipped and
the channels swapped), which on the CPU runs on oneDNN's fast path.

On the GPU, --math sets how PyTorch multiplies in convolutions and dense layers, to match
`sire time --math`: fp32 (TF32 off in cuDNN and cuBLAS) or tf32 (on in both). PyTorch's own
default is in between: TF32 in cuDNN convolutions, FP32 in matrix products. (It has no 3xTF32:
bench/compare_pytorch.sh --math 3xtf32 runs it in fp32, the same accuracy class.)

Prints one JSON object: step_ms (median), images_per_s, peak_rss_bytes.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WIDTHS = [64, 128, 256, 512]


class Block(nn.Module):
    def __init__(self, cin, cout, residual):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout)
        self.residual = residual

    def forward(self, x):
        a1 = F.relu(self.b1(self.c1(x)))
        h = self.b2(self.c2(a1))
        if self.residual:
            h = h + F.pad(x, (0, 0, 0, 0, 0, h.shape[1] - x.shape[1]))
        a2 = F.relu(h)
        return a1, a2, F.max_pool2d(a2, 2)


def tconv(cin, cout, spelling):
    if spelling == "convtranspose":
        return nn.ConvTranspose2d(cin, cout, 3, padding=1)
    return nn.Conv2d(cin, cout, 3, padding=1)  # the same arithmetic, flipped kernel


class Decoder(nn.Module):
    """Inverts blocks level..1: upsample, + skip, tconv C->C, BN, ReLU, + skip, tconv C->C', ..."""

    def __init__(self, level, in_ch, spelling):
        super().__init__()
        self.levels = nn.ModuleList()
        for l in range(level, 0, -1):
            c, prev = WIDTHS[l - 1], (WIDTHS[l - 2] if l > 1 else in_ch)
            last = l == 1
            self.levels.append(nn.ModuleDict({
                "t1": tconv(c, c, spelling), "n1": nn.BatchNorm2d(c),
                "t2": tconv(c, prev, spelling), "n2": nn.Identity() if last else nn.BatchNorm2d(prev)}))

    def forward(self, x, acts, skips):
        d = x
        for i, lv in enumerate(self.levels):
            a1, a2 = acts[len(acts) - 1 - i]
            d = F.interpolate(d, size=a2.shape[-2:], mode="nearest")
            if skips:
                d = d + a2
            d = F.relu(lv["n1"](lv["t1"](d)))
            if skips:
                d = d + a1
            d = lv["t2"](d)
            if i + 1 < len(self.levels):
                d = F.relu(lv["n2"](d))
        return d


class SireCNN(nn.Module):
    def __init__(self, in_ch, classes, aes, skips, residual, spelling):
        super().__init__()
        chans = [in_ch] + WIDTHS
        self.blocks = nn.ModuleList([Block(chans[i], chans[i + 1], residual) for i in range(4)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(2048, 1024),
                                  nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 1024), nn.ReLU(),
                                  nn.Dropout(0.5), nn.Linear(1024, classes))
        self.aes = aes
        self.skips = skips
        self.decoders = nn.ModuleDict({str(i): Decoder(i, in_ch, spelling) for i in aes})

    def forward(self, x):
        acts, outs = [], []
        h = x
        for b in self.blocks:
            a1, a2, h = b(h)
            acts.append((a1, a2))
            outs.append(h)
        recon = [self.decoders[str(i)](outs[i - 1], acts[:i], self.skips) for i in self.aes]
        return self.head(h), recon


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["baseline", "sire"], default="sire")
    p.add_argument("--spelling", choices=["conv", "convtranspose"], default="conv")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--input", default="3,32,32")
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--lambda", dest="lam", type=float, default=0.2)
    p.add_argument("--math", choices=["fp32", "tf32"], default="fp32")
    a = p.parse_args()
    torch.backends.cudnn.allow_tf32 = a.math == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = a.math == "tf32"
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    c, h, w = (int(v) for v in a.input.split(","))
    sire = a.model == "sire"
    model = SireCNN(c, a.classes, [1, 2, 3, 4] if sire else [], sire, sire, a.spelling).to(a.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(a.batch, c, h, w, device=a.device)
    y = torch.arange(a.batch, device=a.device) % a.classes

    def step():
        logits, recon = model(x)
        loss = F.cross_entropy(logits, y)
        if recon:
            loss = loss + a.lam * sum(F.mse_loss(r, x) for r in recon)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if a.device == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):
        step()
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    out = {"model": a.model, "spelling": a.spelling, "device": a.device, "math": a.math, "batch": a.batch,
           "threads": torch.get_num_threads(), "step_ms": med * 1e3, "step_ms_min": min(times) * 1e3,
           "images_per_s": a.batch / med, "peak_rss_bytes": peak_rss(),
           "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}
    if a.device == "cuda":
        out["peak_bytes"] = torch.cuda.max_memory_allocated()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
