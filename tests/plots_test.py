#!/usr/bin/python3
"""The picture commands and the results table end to end, on runs this test trains: `sire train`
of the tiny models (SIRe with two seeds, a baseline, a single-AE model) for 2 epochs on generated
images, then `sire recon`, `scripts/plots curves|gradflow` and `scripts/results-table` on them,
and every faulty input they must refuse with a clear one-line error (file and line named, exit
status 1, no traceback).

usage: plots_test.py SIRE_BINARY SOURCE_DIR  (CTest runs it through run_with_python.sh)
"""

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

SIRE, SOURCE = sys.argv[1], sys.argv[2]
PLOTS = os.path.join(SOURCE, "scripts", "plots")
MODELS = os.path.join(SOURCE, "tests", "data", "models")


def write_bar_images(folder, train, test):
    """MNIST-format images whose class is the band holding a bright bar (as tests/support/bar_images.cpp)."""
    def write(prefix, n, seed):
        rng = random.Random(seed)
        images, labels = bytearray(struct.pack(">IIII", 0x803, n, 28, 28)), bytearray(struct.pack(">II", 0x801, n))
        for i in range(n):
            cls = (i * 7 + seed) % 10
            labels.append(cls)
            top = 1 + cls * 26 // 10
            for r in range(28):
                for c in range(28):
                    bar = top <= r < top + 3 and 4 <= c < 24
                    images.append(rng.randrange(60) + (190 if bar else 0))
        with open(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), "wb") as f:
            f.write(images)
        with open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
            f.write(labels)
    write("train", train, 1)
    write("t10k", test, 2)


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=300)


def png_size(path):
    """(width, height, colour type) from a PNG's IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(26)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height, head[25]


class Pictures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sire-plots-test-")
        cls.data = os.path.join(cls.tmp, "data")
        os.mkdir(cls.data)
        write_bar_images(cls.data, 192, 24)
        cls.runs = {}
        for name, model, seed in (("sire-s1", "tiny-cnn", 1), ("sire-s2", "tiny-cnn", 2),
                                  ("baseline", "tiny-baseline", 1), ("ae1", "tiny-ae1", 1)):
            out = os.path.join(cls.tmp, "runs", name)
            r = run(SIRE, "train", "--model", os.path.join(MODELS, model + ".json"), "--data", cls.data,
                    "--dataset", "mnist", "--val-size", "32", "--train-images", "-1", "--epochs", "2",
                    "--batch", "32", "--lr", "0.05", "--seed", str(seed), "--threads", "1",
                    "--workers", "1", "--quiet", "--out", out)
            assert r.returncode == 0, f"sire train {name} failed:\n{r.stdout}\n{r.stderr}"
            cls.runs[name] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def plots(self, *argv):
        return run("/usr/bin/python3", PLOTS, *argv)

    def assert_refused(self, result, *phrases):
        """A faulty input: exit status 1 and one clear line naming the fault, no traceback."""
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        for phrase in phrases:
            self.assertIn(phrase, result.stderr)

    def assert_image(self, path):
        import matplotlib.image
        self.assertGreater(matplotlib.image.imread(path).shape[0], 100)

    # --- sire recon ---------------------------------------------------------------------------
    def test_recon(self):
        out = os.path.join(self.tmp, "recon.png")
        best = os.path.join(self.runs["sire-s1"], "best.safetensors")
        common = [SIRE, "recon", "--checkpoint", best, "--data", self.data, "--dataset", "mnist",
                  "--val-size", "32", "--images", "3", "--scale", "3", "--out", out, "--threads", "1"]
        r = run(*common, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["columns"], ["input", "ae1", "ae2"])
        self.assertEqual(sorted(j["mse"]), ["ae1", "ae2"])
        self.assertTrue(all(v > 0 for v in j["mse"].values()))
        # 3 rows, 1 + 2 columns, 32x32 cells at scale 3, 2-pixel separators; grey (colour type 0).
        self.assertEqual(png_size(out), (3 * 96 + 2 * 2, 3 * 96 + 2 * 2, 0))
        self.assertEqual((j["width"], j["height"]), png_size(out)[:2])
        self.assert_image(out)

        r = run(*common, "--split", "val")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("AE1", r.stdout)
        self.assertIn("AE2", r.stdout)

        baseline = os.path.join(self.runs["baseline"], "best.safetensors")
        r = run(SIRE, "recon", "--checkpoint", baseline, "--data", self.data, "--val-size", "32", "--out", out)
        self.assertEqual(r.returncode, 1)
        self.assertIn(baseline, r.stderr)
        self.assertIn("no auto-encoders", r.stderr)

    # --- scripts/plots ------------------------------------------------------------------------
    def test_curves(self):
        out = os.path.join(self.tmp, "pictures", "curves.png")
        r = self.plots("curves", *self.runs.values(), "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("tiny-cnn (mean ± std of 2 runs)", r.stdout)  # the two seeds grouped
        self.assertIn("tiny-baseline", r.stdout)
        self.assert_image(out)
        r = self.plots("curves", self.runs["sire-s1"], self.runs["ae1"], "--labels", "SIRe", "AE1",
                       "--linear", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)

    # --- scripts/results-table ---------------------------------------------------------------
    def test_results_table(self):
        table = os.path.join(SOURCE, "scripts", "results-table")
        # By the model's name: the two seeds of the tiny SIRe-CNN are one row, mean ± std.
        r = run("/usr/bin/python3", table, "--markdown", *self.runs.values())
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [[c.strip() for c in l.strip("|").split("|")] for l in r.stdout.splitlines()[2:]]
        self.assertEqual(len(rows), 3, r.stdout)
        two = [row for row in rows if row[1] == "2"]
        self.assertEqual(len(two), 1, r.stdout)
        self.assertIn("±", two[0][2])
        # By folder: "sire-s1" and "sire-s2" are seeds of "sire"; a Markdown table.
        r = run("/usr/bin/python3", table, "--by", "dir", "--markdown", *self.runs.values())
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("| model | runs |"), r.stdout)
        self.assertTrue(any(l.startswith("| sire | 2 |") for l in lines), r.stdout)
        self.assertTrue(any(l.startswith("| baseline | 1 |") for l in lines), r.stdout)
        # A run stopped by a diverging loss (scripts/experiments leaves diverged.txt): counted in
        # its group, left out of the mean; a group with no finished run shows no mean.
        lost = os.path.join(self.tmp, "table", "sire-s3")
        os.makedirs(lost, exist_ok=True)
        shutil.copy(os.path.join(self.runs["sire-s1"], "config.json"), lost)
        with open(os.path.join(lost, "diverged.txt"), "w") as f:
            f.write("sire train: error: the loss became inf at epoch 1, batch 2\n")
        r = run("/usr/bin/python3", table, "--by", "dir", "--markdown", self.runs["sire-s1"],
                self.runs["sire-s2"], lost)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("| sire | 3 (1 diverged) |", r.stdout)
        r = run("/usr/bin/python3", table, "--markdown", lost)  # by model: its name from the file
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("| tiny SIRe-CNN | 1 (1 diverged) | - | - |", r.stdout)
        # A run without a result, and one whose result is not JSON: one clear line each.
        empty = os.path.join(self.tmp, "no-result")
        os.makedirs(empty, exist_ok=True)
        self.assert_refused(run("/usr/bin/python3", table, empty), "result.json: missing")
        bad = os.path.join(self.tmp, "bad-result")
        os.makedirs(bad, exist_ok=True)
        with open(os.path.join(bad, "result.json"), "w") as f:
            f.write("{not json")
        self.assert_refused(run("/usr/bin/python3", table, bad), "result.json: malformed JSON")

    def test_gradflow(self):
        out = os.path.join(self.tmp, "gradflow.png")
        for extra in ([], ["--layers", "all"], ["--epoch", "2", "--yscale", "linear"]):
            r = self.plots("gradflow", *self.runs.values(), "--out", out, *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_image(out)
        r = self.plots("gradflow", self.runs["baseline"], "--epoch", "3", "--out", out)
        self.assert_refused(r, "metrics.jsonl: has no epoch 3 (it holds epochs 1 to 2)")

    # --- scripts/plots kernels (bench_conv_cuda's JSON) -------------------------------------
    def write_bench(self, name, rows, context=None):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(rows if context == "raw" else
                      {"context": context or {"device": "test GPU"}, "benchmarks": rows}, f)
        return path

    def test_kernels(self):
        def row(name, ratio, **extra):
            return dict(name=name + "/iterations:1/manual_time", vs_cuDNN=ratio, ms=0.1, **extra)
        rows = [row(f"{kind}/{layer}/64to64@32/{p}/{m}", 0.5 + 0.1 * i)
                for i, (kind, layer) in enumerate((("conv2d", "enc1b"), ("conv_transpose2d", "dec1a")))
                for p in ("fwd", "bwd_data", "bwd_weight") for m in ("fp32", "tf32")]
        rows.append(dict(name="max_pool2d/64@32/fwd", vs_cuDNN=1.0))  # another kernel: left out
        rows.append(dict(name="conv2d/enc2a/64to128@16/fwd/fp32", error_occurred=True))  # refused by the run
        a = self.write_bench("bench-a.json", rows)
        b = self.write_bench("bench-b.json", [r for r in rows if "/tf32" in r["name"]])
        out = os.path.join(self.tmp, "kernels.png")
        r = self.plots("kernels", a, b, "--labels", "first", "second", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("first: " + a + " (12 passes)", r.stdout)
        self.assertIn("second: " + b + " (6 passes)", r.stdout)
        self.assert_image(out)
        never = os.path.join(self.tmp, "never-kernels.png")
        refused = [
            (os.path.join(self.tmp, "no-such.json"), "no such file"),
            (self.write_bench("raw.json", [1, 2], context="raw"), "an object with a 'benchmarks' list"),
            (self.write_bench("name.json", [row("conv2d/enc1b/fwd", 1.0)]), "is not KIND/LAYER/SHAPE/PASS/MATH"),
            (self.write_bench("ratio.json", [row("conv2d/enc1b/64to64@32/fwd/fp32", "fast")]),
             "benchmarks[0] (conv2d/enc1b/64to64@32/fwd/fp32/iterations:1/manual_time): 'vs_cuDNN' must be a positive number"),
            (self.write_bench("none.json", [dict(name="relu/4Mi", ms=0.01)]), "no convolution rows"),
        ]
        for path, phrase in refused:
            self.assert_refused(self.plots("kernels", path, "--out", never), path, phrase)
        broken = os.path.join(self.tmp, "broken.json")
        with open(broken, "w") as f:
            f.write('{"benchmarks": [\n')
        self.assert_refused(self.plots("kernels", broken, "--out", never), broken + ":2: not valid JSON")
        self.assert_refused(self.plots("kernels", a, "--labels", "x", "y", "--out", never),
                            "--labels: 2 labels for 1 files")
        self.assertFalse(os.path.exists(never))

    def test_refused_inputs(self):
        bad = os.path.join(self.tmp, "bad")
        os.makedirs(bad, exist_ok=True)
        metrics = os.path.join(bad, "metrics.jsonl")
        out = os.path.join(self.tmp, "never.png")
        with open(os.path.join(self.runs["sire-s1"], "metrics.jsonl")) as f:
            good = f.readline()

        def with_lines(*lines):
            with open(metrics, "w") as f:
                f.writelines(lines)
            return self.plots("curves", bad, "--out", out)

        missing = os.path.join(self.tmp, "no-such-run")
        self.assert_refused(self.plots("curves", missing, "--out", out), missing, "no such run folder")
        if os.path.exists(metrics):
            os.remove(metrics)
        self.assert_refused(self.plots("gradflow", bad, "--out", out), metrics, "no such file")
        self.assert_refused(with_lines(), metrics, "empty")
        self.assert_refused(with_lines(good, "{\"epoch\": 2, \"train\": \n"), metrics + ":2: not valid JSON")
        self.assert_refused(with_lines(good, "[1, 2]\n"), metrics + ":2: expected a JSON object")
        self.assert_refused(with_lines('{"epoch": 1, "train": {"top1_err": 5}}\n'), metrics + ":1: no 'train.ce'")
        self.assert_refused(with_lines('{"epoch": 1, "train": {"ce": "x", "top1_err": 5}}\n'),
                            metrics + ":1: 'train.ce' must be a number")
        self.assert_refused(with_lines(good, good), metrics + ":2: epoch 1 after epoch 1")
        self.assert_refused(self.plots("gradflow", self.runs["ae1"], bad, "--out", out), metrics + ":2:")
        with open(metrics, "w") as f:
            f.write('{"epoch": 1, "train": {"ce": 2.0, "top1_err": 50}}\n')
        self.assert_refused(self.plots("gradflow", bad, "--out", out), metrics, "no line has a 'grad'")
        self.assert_refused(self.plots("curves", bad, self.runs["ae1"], "--labels", "one", "--out", out),
                            "--labels: 1 labels for 2 runs")
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
