"""Train a multilayer perceptron through the engine: scikit-learn's handwritten digits, 64-64-10.

The network: 64 inputs (8 x 8 pixels scaled to [0, 1]), a hidden layer of 64 ReLU units, 10 outputs,
softmax cross-entropy, plain SGD on minibatches. Biases ride in the weight matrices (the bias trick:
a column of ones on each layer's input), so each layer is one matrix product. Every matrix product
of a training step runs on the engine:

* forward:          ``Z1 = [X 1] @ W1``, ``Z2 = [A1 1] @ W2`` (``A1 = relu(Z1)``);
* backward:         ``dA1 = G2 @ W2[:64].T`` (G2 = dLoss/dZ2, times the batch size);
* weight gradients: ``dW2 = [A1 1].T @ G2``, ``dW1 = [X 1].T @ G1`` (``G1 = dA1 * (Z1 > 0)``);

and the test-set evaluation after each epoch is a forward pass on the engine too. Activations,
softmax, loss and the update stay in numpy (float32 master weights). The transposes are done by the
runtime in software and counted. The gradient is taken of the summed (not averaged) loss and
divided by the batch size in float32 after the product: a loss scale of the batch size, which keeps
small gradients away from the FP8/FP16 subnormals.

Three runs from the same seed (same initial weights, same batches): ``float32`` (numpy reference),
``fp16`` (every product in FP16 on the engine) and ``fp8`` (the paper's hybrid FP8: forward
operands in E4M3, backward and gradient operands in E5M2, FP16 accumulation and output).
"""
import time
from dataclasses import dataclass, field

import numpy as np

from redmule_hdl.config import Config
from redmule_hdl.runtime import DEFAULT_TCDM_BYTES, Runtime, Stats
from redmule_hdl.spec import golden

from .progress import Progress

__all__ = ["RUNS", "CLOCK_MHZ", "EpochLog", "RunResult", "EngineMath", "load_data", "init_weights",
           "train_step", "train", "run", "format_tables",
           "plot"]

#: The three runs: name -> (forward input format, backward input format); None: numpy float32.
RUNS = {"float32": None, "fp16": ("fp16", "fp16"), "fp8": ("e4m3", "e5m2")}
#: Clock for the time per step: the paper's 613 MHz (the synthesis flow has no Fmax estimate).
CLOCK_MHZ = 613
HIDDEN = 64
CLASSES = 10
#: Minibatch size and SGD learning rate of the runs.
BATCH = 32
LR = 0.2


@dataclass
class EpochLog:
    epoch: int
    loss: float          # mean training loss over the epoch's steps
    test_accuracy: float


@dataclass
class RunResult:
    """One training run. ``train`` and ``evaluate`` hold the engine's work (``runtime.Stats``) of
    the training steps and of the test evaluations (empty for float32)."""
    name: str
    epochs: list = field(default_factory=list)
    steps: int = 0
    products: int = 0            # matrix products run (training steps and evaluations)
    checked: int = 0             # of those, checked bit for bit against golden
    train: Stats = field(default_factory=Stats)
    evaluate: Stats = field(default_factory=Stats)
    seconds: float = 0.0         # wall time of the run

    @property
    def final_accuracy(self):
        return self.epochs[-1].test_accuracy if self.epochs else float("nan")

    @property
    def cycles_per_step(self):
        return self.train.cycles / self.steps if self.steps else 0.0

    @property
    def sim_cycles_per_step(self):
        return self.train.sim_cycles / self.steps if self.steps else 0.0

    @property
    def jobs_per_step(self):
        return self.train.jobs / self.steps if self.steps else 0.0

    def us_per_step(self, clock_mhz=CLOCK_MHZ):
        """Engine time of one training step at ``clock_mhz``, in microseconds."""
        return self.cycles_per_step / clock_mhz


class NumpyMath:
    """Matrix products in float32 numpy (the reference)."""

    def __init__(self):
        self.products = 0
        self.checked = 0

    def mm(self, a, b, *, phase, ta=False, tb=False):
        self.products += 1
        a = a.T if ta else a
        b = b.T if tb else b
        return (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float32)


class EngineMath:
    """Matrix products on the engine through ``runtime`` (MATMUL): operands rounded to the phase's
    format (``fwd`` and ``eval``: ``fwd_fmt``, ``bwd``: ``bwd_fmt``), FP16 output. ``verify``: check
    every product bit for bit against ``golden.gemm_op`` on the same operands."""

    def __init__(self, runtime, fwd_fmt, bwd_fmt, *, verify=False):
        self.rt = runtime
        self.formats = {"fwd": fwd_fmt, "eval": fwd_fmt, "bwd": bwd_fmt}
        self.verify = verify
        self.stats = {"train": Stats(), "eval": Stats()}
        self.products = 0
        self.checked = 0

    def mm(self, a, b, *, phase, ta=False, tb=False):
        fmt = self.formats[phase]
        xa, xb = golden.from_float(a, fmt), golden.from_float(b, fmt)
        out = None if fmt == "fp16" else "fp16"
        r = self.rt.gemm_op("matmul", xa, xb, in_fmt=fmt, out_fmt=out, transpose_x=ta,
                            transpose_w=tb)
        self.products += 1
        if self.verify:
            want = golden.gemm_op("matmul", xa.T if ta else xa, xb.T if tb else xb, in_fmt=fmt,
                                  out_fmt=out)
            if not np.array_equal(r.z, want):
                raise AssertionError(f"engine product {self.products} ({phase}, {fmt}) differs "
                                     f"from golden.gemm_op")
            self.checked += 1
        key = "eval" if phase == "eval" else "train"
        self.stats[key] = self.stats[key] + r.stats
        return golden.to_float(r.z).astype(np.float32)


def load_data(seed=0, *, test_fraction=0.2, train_samples=None, test_samples=None):
    """scikit-learn's digits (shipped inside the package, no download): ``(x_train, y_train, x_test,
    y_test)``, pixels scaled to [0, 1] in float32, split by a permutation from ``seed``; optionally
    cut to ``train_samples`` / ``test_samples``."""
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, tr = perm[:n_test], perm[n_test:]
    if train_samples is not None:
        tr = tr[:train_samples]
    if test_samples is not None:
        test = test[:test_samples]
    return x[tr], y[tr], x[test], y[test]


def _ones(a):
    return np.hstack([a, np.ones((a.shape[0], 1), np.float32)])


def _forward(math, x, w1, w2, phase):
    z1 = math.mm(_ones(x), w1, phase=phase)
    a1 = np.maximum(z1, 0)
    z2 = math.mm(_ones(a1), w2, phase=phase)
    return z1, a1, z2


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def init_weights(seed, n_in=64):
    """He-initialized W1 ((n_in + 1) x 64) and W2 (65 x 10), bias rows zero."""
    rng = np.random.default_rng(seed)
    w1 = (rng.normal(size=(n_in + 1, HIDDEN)) * np.sqrt(2.0 / n_in)).astype(np.float32)
    w2 = (rng.normal(size=(HIDDEN + 1, CLASSES)) * np.sqrt(2.0 / HIDDEN)).astype(np.float32)
    w1[-1] = 0
    w2[-1] = 0
    return w1, w2


def train_step(math, x, labels, w1, w2, lr):
    """One SGD step on the minibatch ``x`` (``labels``): five products through ``math`` (two forward,
    three backward), ``w1`` and ``w2`` updated in place; returns the minibatch's mean loss."""
    z1, a1, z2 = _forward(math, x, w1, w2, "fwd")
    p = _softmax(z2)
    rows = np.arange(len(x))
    loss = float(-np.mean(np.log(np.maximum(p[rows, labels], 1e-30))))
    g2 = p.copy()
    g2[rows, labels] -= 1.0          # d(summed loss)/dZ2
    dw2 = math.mm(_ones(a1), g2, phase="bwd", ta=True) / len(x)
    da1 = math.mm(g2, w2[:HIDDEN], phase="bwd", tb=True)
    g1 = (da1 * (z1 > 0)).astype(np.float32)
    dw1 = math.mm(_ones(x), g1, phase="bwd", ta=True) / len(x)
    w1 -= np.float32(lr) * dw1.astype(np.float32)
    w2 -= np.float32(lr) * dw2.astype(np.float32)
    return loss


def train(math, data, *, epochs, batch, lr, seed, max_steps=None, progress=None, name=""):
    """Train from ``init_weights(seed)`` with batches in the order of ``seed``; returns a
    ``RunResult`` (without the engine statistics). ``max_steps``: steps per epoch at most."""
    x_tr, y_tr, x_te, y_te = data
    w1, w2 = init_weights(seed, x_tr.shape[1])
    order = np.random.default_rng(seed + 1)
    steps = max(len(x_tr) // batch, 1)
    if max_steps is not None:
        steps = min(steps, max_steps)
    result = RunResult(name)
    t0 = time.monotonic()
    for epoch in range(1, epochs + 1):
        perm = order.permutation(len(x_tr))
        losses = []
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            losses.append(train_step(math, x_tr[idx], y_tr[idx], w1, w2, lr))
            result.steps += 1
            if progress is not None:
                progress.update(note=f"{name} epoch {epoch} loss {np.mean(losses):.3f}")
        _, _, z2 = _forward(math, x_te, w1, w2, "eval")
        accuracy = float(np.mean(np.argmax(z2, axis=1) == y_te))
        result.epochs.append(EpochLog(epoch, float(np.mean(losses)), accuracy))
    result.seconds = time.monotonic() - t0
    result.products, result.checked = math.products, math.checked
    return result


def run(config=None, *, backend="verilator", epochs=5, seed=0, batch=BATCH, lr=LR, runs=tuple(RUNS),
        train_samples=None, test_samples=None, max_steps=None, verify=False, progress=None,
        tcdm_bytes=DEFAULT_TCDM_BYTES, runtime_options=None):
    """Train once per run in ``runs`` (names of ``RUNS``) from the same seed; returns the
    ``RunResult``s in order. Engine runs share one ``Runtime`` (one simulated accelerator).
    ``verify``: check every engine product against ``golden``. ``progress``: draw a progress bar
    (None: on a terminal). ``runtime_options``: more keywords of the ``Runtime`` (e.g. ``trace``)."""
    config = Config() if config is None else config
    for name in runs:
        if name not in RUNS:
            raise ValueError(f"runs must name some of {', '.join(RUNS)}, not {name!r}")
    data = load_data(seed, train_samples=train_samples, test_samples=test_samples)
    steps = max(len(data[0]) // batch, 1)
    if max_steps is not None:
        steps = min(steps, max_steps)
    bar = Progress(steps * epochs * len(runs), "train-mlp", enabled=progress)
    results = []
    runtime = None
    try:
        for name in runs:
            formats = RUNS[name]
            if formats is None:
                math = NumpyMath()
            else:
                if runtime is None:
                    runtime = Runtime(config, tcdm_bytes=tcdm_bytes, backend=backend, **(runtime_options or {}))
                math = EngineMath(runtime, *formats, verify=verify)
            result = train(math, data, epochs=epochs, batch=batch, lr=lr, seed=seed,
                           max_steps=max_steps, progress=bar, name=name)
            if formats is not None:
                peak = config.L * config.H
                result.train = math.stats["train"]
                result.evaluate = math.stats["eval"]
                result.train.peak = result.evaluate.peak = peak
            results.append(result)
    finally:
        bar.close()
        if runtime is not None:
            runtime.close()
    return results


def format_tables(results, config, *, clock_mhz=CLOCK_MHZ):
    """Markdown: test accuracy and training loss per epoch for every run, then the engine's cost
    per training step."""
    names = [r.name for r in results]
    lines = ["| epoch | " + " | ".join(f"{n} loss | {n} test acc" for n in names) + " |",
             "|---:|" + "---:|---:|" * len(names)]
    for i in range(max(len(r.epochs) for r in results)):
        cells = []
        for r in results:
            e = r.epochs[i]
            cells += [f"{e.loss:.4f}", f"{100 * e.test_accuracy:.2f}%"]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    ref = next((r for r in results if r.name == "float32"), None)
    lines += ["", f"| run | final test acc | vs float32 | engine cycles/step | simulated cycles/step | "
                  f"jobs/step | CE util | time/step at {clock_mhz} MHz | host transposes/step | "
                  f"products checked |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        delta = (f"{100 * (r.final_accuracy - ref.final_accuracy):+.2f} pt" if ref is not None
                 and r is not ref else "")
        if r.train.cycles:
            cost = (f"{r.cycles_per_step:,.0f} | {r.sim_cycles_per_step:,.0f} | {r.jobs_per_step:.1f} | "
                    f"{100 * r.train.utilization:.1f}% | {r.us_per_step(clock_mhz):.1f} us | "
                    f"{r.train.transposed / r.steps:,.0f} elements")
        else:
            cost = "(numpy) | | | | |"
        checked = (f"{r.checked}/{r.products}" if r.checked else "not checked") if r.train.cycles else ""
        lines.append(f"| {r.name} | {100 * r.final_accuracy:.2f}% | {delta} | {cost} | {checked} |")
    return "\n".join(lines)


_COLORS = {"float32": (170, 170, 170), "fp16": (31, 119, 180), "fp8": (214, 39, 40)}


def _line(canvas, p0, p1, color, thick=2):
    n = int(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))) + 1
    for t in np.linspace(0.0, 1.0, n):
        x = p0[0] + t * (p1[0] - p0[0])
        y = p0[1] + t * (p1[1] - p0[1])
        canvas.rect(x - thick / 2, y - thick / 2, x + thick / 2, y + thick / 2, color)


def _panel(canvas, box, results, value, *, title, lo, hi, ticks, tick_format):
    x0, y0, x1, y1 = box
    grid, axis = (225, 225, 225), (60, 60, 60)
    n = max(len(r.epochs) for r in results)

    def pos(i, v):
        x = x0 + (x1 - x0) * (i / max(n - 1, 1))
        y = y1 - (y1 - y0) * (min(max(v, lo), hi) - lo) / (hi - lo)
        return x, y

    for t in ticks:
        y = pos(0, t)[1]
        canvas.rect(x0, y, x1, y + 1, grid)
        canvas.text(x0 - 6, y - 3, tick_format(t), axis, anchor="right")
    for i in range(n):
        x = pos(i, lo)[0]
        canvas.text(x, y1 + 6, str(i + 1), axis, anchor="center")
    canvas.text((x0 + x1) / 2, y1 + 18, "EPOCH", axis, anchor="center")
    for r in results:
        pts = [pos(i, value(e)) for i, e in enumerate(r.epochs)]
        color = _COLORS.get(r.name, (0, 150, 0))
        thick = 5 if r.name == "float32" else 2     # the reference under the others stays visible
        for a, b in zip(pts, pts[1:]):
            _line(canvas, a, b, color, thick)
        for x, y in pts:
            canvas.rect(x - 3, y - 3, x + 3, y + 3, color)
    canvas.rect(x0, y0, x0 + 1, y1 + 1, axis)
    canvas.rect(x0, y1, x1, y1 + 1, axis)
    canvas.text(x0, y0 - 22, title, (0, 0, 0), scale=2)
    lx = x1
    for r in reversed(results):
        lx -= 6 * len(r.name) + 24
        canvas.rect(lx, y0 - 20, lx + 10, y0 - 10, _COLORS.get(r.name, (0, 150, 0)))
        canvas.text(lx + 14, y0 - 19, r.name, axis)


def plot(results, path):
    """A PNG with two panels: training loss and test accuracy per epoch, one line per run."""
    from redmule_hdl.sim.chart import Canvas
    canvas = Canvas(900, 380)
    top = max(max(e.loss for e in r.epochs) for r in results)
    top = float(np.ceil(top * 2) / 2)
    _panel(canvas, (70, 50, 430, 330), results, lambda e: e.loss, title="TRAINING LOSS", lo=0.0,
           hi=top, ticks=np.linspace(0, top, 6), tick_format=lambda t: f"{t:.1f}")
    accs = [e.test_accuracy for r in results for e in r.epochs]
    lo = max(0.0, float(np.floor(min(accs) * 20) / 20))
    _panel(canvas, (520, 50, 880, 330), results, lambda e: e.test_accuracy, title="TEST ACCURACY",
           lo=lo, hi=1.0, ticks=np.arange(lo, 1.0 + 1e-9, 0.05), tick_format=lambda t: f"{100 * t:.0f}%")
    canvas.save(path)
