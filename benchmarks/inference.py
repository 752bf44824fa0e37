"""Inference speed across runtimes, measured in one run: the streaming step (B=1, 256 -> 256, 2 layers) p50/p99,
throughput at B=64, and greedy generation tokens/s of a char LM the size of the tinyshakespeare model (2 x 512).

    python benchmarks/inference.py [--steps 3000] [--compile] [--no-write]

Runtimes: torch.nn.LSTM eager (T=1 call with the state), two nn.LSTMCell calls, torch.compile of the cells
(--compile: tens of seconds of compile time), onnxruntime fp32 and int8 (plain `run`), and lstmkit's
StreamingStep (the exported graph with every buffer bound once) in fp32 and int8. Exactness is checked
against nn.LSTM in the same run. Weights are random (speed does not depend on them). Writes the `inference`
section of BENCHMARKS.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, write_section
from lstmkit.deploy.export import ExportPlan, Graph, Port, export_plan
from lstmkit.deploy.onnx_ops import OnnxRecurrent
from lstmkit.deploy.onnx_runtime import OnnxRunner
from lstmkit.deploy.streaming import StreamingStep

I = H = 256
L = 2


def timed(fn, n: int) -> np.ndarray:
    for _ in range(min(200, n // 5)):
        fn()
    out = np.empty(n)
    for k in range(n):
        t = time.perf_counter()
        fn()
        out[k] = time.perf_counter() - t
    return out * 1e6  # µs


def export_layer(lstm: torch.nn.LSTM, out: Path) -> None:
    def example(b: int, t: int) -> dict:
        g = torch.Generator().manual_seed(b + t)
        return {
            "x": torch.randn(b, t, I, generator=g),
            "lengths": torch.full((b,), t),
            "h": torch.randn(L, b, H, generator=g),
            "c": torch.randn(L, b, H, generator=g),
        }

    ports = [
        Port("x", "float32", ["batch", "time", I], "input"),
        Port("lengths", "int64", ["batch"], "lengths"),
        Port("h", "float32", [L, "batch", H], "h"),
        Port("c", "float32", [L, "batch", H], "c"),
    ]
    outs = [
        Port("y", "float32", ["batch", "time", H], "output"),
        Port("h_out", "float32", [L, "batch", H], "h"),
        Port("c_out", "float32", [L, "batch", H], "c"),
    ]
    export_plan(ExportPlan("bench", [Graph("model", OnnxRecurrent(lstm), ports, outs, example)]), out, quantize="int8")


def step_runtimes(lstm: torch.nn.LSTM, root: Path, batch: int, compile_: bool) -> dict:
    """name -> a zero-argument callable doing one step for `batch` streams (state carried)."""
    x = torch.randn(batch, 1, I)
    state = {"hc": (torch.zeros(L, batch, H), torch.zeros(L, batch, H))}
    cells = [torch.nn.LSTMCell(I if k == 0 else H, H) for k in range(L)]
    with torch.no_grad():
        for k, cell in enumerate(cells):
            for a in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, a).copy_(getattr(lstm, f"{a}_l{k}"))
    hs = [(torch.zeros(batch, H), torch.zeros(batch, H)) for _ in range(L)]

    def nn_lstm():
        with torch.no_grad():
            _, state["hc"] = lstm(x, state["hc"])

    def cell_step(v, hs):
        out = []
        for cell, hc in zip(cells, hs):
            h, c = cell(v, hc)
            out.append((h, c))
            v = h
        return out

    def lstm_cells():
        with torch.no_grad():
            hs[:] = cell_step(x[:, 0], hs)

    runs = {"torch nn.LSTM (eager)": nn_lstm, "torch 2 x LSTMCell": lstm_cells}
    if compile_:
        compiled = torch.compile(cell_step, dynamic=False)

        def compiled_cells():
            with torch.no_grad():
                hs[:] = compiled(x[:, 0], hs)

        runs["torch.compile(LSTMCell step)"] = compiled_cells
    xs = x.numpy()
    lengths = np.ones(batch, np.int64)
    for variant in ("fp32", "int8"):
        runner = OnnxRunner(root, variant=variant)
        st = {"h": np.zeros((L, batch, H), np.float32), "c": np.zeros((L, batch, H), np.float32)}

        def plain(runner=runner, st=st):
            o = runner.run("model", {"x": xs, "lengths": lengths, **st})
            st["h"], st["c"] = o["h_out"], o["c_out"]

        runs[f"onnxruntime {variant} (run)"] = plain
        step = StreamingStep(runner, batch=batch)
        step.inputs["lengths"][...] = 1
        runs[f"lstmkit StreamingStep {variant}"] = lambda step=step: step({"x": xs})
    return runs


def exactness(lstm: torch.nn.LSTM, root: Path) -> float:
    """Max |StreamingStep - nn.LSTM| over 50 steps of one stream from a zero state."""
    step = StreamingStep(OnnxRunner(root))
    step.inputs["lengths"][...] = 1
    hc, worst = None, 0.0
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        x = torch.randn(1, 1, I, generator=g)
        with torch.no_grad():
            y, hc = lstm(x, hc)
        worst = max(worst, float(np.abs(step({"x": x.numpy()})["y"] - y.numpy()).max()))
    return worst


def generation(root: Path) -> dict:
    """Greedy tokens/s of a 2 x 512 char LM (random weights), torch vs the ONNX runtime, 300 new tokens."""
    from lstmkit.data.tokenizers import CharTokenizer
    from lstmkit.registry import export_model
    from lstmkit.tasks.lm import LanguageModel
    from lstmkit.tasks.lm.onnx_runtime import OnnxLanguageModel
    from lstmkit.tasks.lm.task import build_model

    lm = LanguageModel(hidden_size=512, num_layers=2, embedding_size=128)
    lm.tokenizer = CharTokenizer.fit("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ,.;:!?'\n-&$3")
    lm.net = build_model(lm.config, lm.tokenizer.vocab_size).eval()
    export_model(lm, root / "lm")
    onnx_lm = OnnxLanguageModel(OnnxRunner(root / "lm"))
    out = {}
    for name, fn in (
        ("torch (LanguageModel.generate)", lm.generate),
        ("onnx (OnnxLanguageModel.generate)", onnx_lm.generate),
    ):
        fn("ROMEO:", 20, temperature=0)
        t = time.perf_counter()
        text = fn("ROMEO:", 300, temperature=0)[0]
        out[name] = (300 / (time.perf_counter() - t), text)
    same = len({t for _, t in out.values()}) == 1
    return {"rates": {k: v[0] for k, v in out.items()}, "same_tokens": same}


def forecasting(root: Path, n_series: int = 1000) -> dict:
    """Predictions/s forecasting n_series monthly series (a small model trained a few steps): torch vs ONNX,
    both through the same pipeline (the preprocessing is most of the cost)."""
    import pandas as pd

    from lstmkit.registry import export_model, load_onnx
    from lstmkit.tasks.forecast import Forecaster

    rng = np.random.default_rng(0)
    ds = pd.date_range("2000-01-01", periods=120, freq="MS")
    t = np.arange(120)
    frames = [
        pd.DataFrame(
            {
                "unique_id": f"s{i}",
                "ds": ds,
                "y": 100 + 0.5 * i + 10 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 2, 120),
            }
        )
        for i in range(n_series)
    ]
    data = pd.concat(frames, ignore_index=True)
    f = Forecaster(horizon=12, hidden_size=32, max_steps=5, progress=False, out=str(root / "fc"))
    f.fit(data)
    export_model(f, root / "fc-onnx")
    onnx_f = load_onnx(root / "fc-onnx")
    out = {}
    for name, model in (("torch (Forecaster.predict)", f), ("onnx (ForecastPredictor.predict)", onnx_f)):
        model.predict(data.head(120 * 10))
        start = time.perf_counter()
        fc = model.predict(data)
        out[name] = (n_series / (time.perf_counter() - start), fc)
    a, b = (v[1]["y_hat"].to_numpy() for v in out.values())
    return {
        "rates": {k: v[0] for k, v in out.items()},
        "max_rel": float(np.max(np.abs(a - b) / np.abs(a))),
        "n": n_series,
    }


def render(lat: dict, thr: dict, exact: float, gen: dict, fc: dict, args: argparse.Namespace) -> str:
    base = np.median(lat["torch nn.LSTM (eager)"])
    lines = [
        "## Inference: streaming step, batch throughput, generation",
        "",
        f"Command: `python benchmarks/inference.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine()}, {datetime.date.today()}; torch threads as set by the run, onnxruntime 1 intra-op "
        "thread (the serving setting)  ",
        f"Step: one LSTM step (T = 1) of a {L}-layer {I} -> {H} LSTM with the state carried, {args.steps} timed steps "
        "after warm-up. lstmkit's StreamingStep equals nn.LSTM within "
        f"{exact:.1e} over 50 steps (target 1e-5).",
        "",
        "| runtime | B=1 p50 µs | B=1 p99 µs | vs nn.LSTM | B=64 steps/s (x64 streams) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, t in lat.items():
        p50 = np.median(t)
        lines.append(
            f"| {name} | {p50:.1f} | {np.percentile(t, 99):.1f} | {base / p50:.2f}x | "
            f"{1e6 / np.median(thr[name]):,.0f} |"
        )
    best = min(lat, key=lambda k: np.median(lat[k]))
    lines += ["", f"Fastest B=1 step: {best}, {np.median(lat[best]):.1f} µs (target <= 30 µs).", ""]
    lines += ["Greedy generation, 300 tokens, 2 x 512 char LM (the tinyshakespeare model's size):", ""]
    lines += ["| runtime | tokens/s |", "|---|---:|"]
    lines += [f"| {k} | {v:,.0f} |" for k, v in gen["rates"].items()]
    lines += [
        "",
        f"Same tokens from both runtimes: {gen['same_tokens']}. Target: at least 2x the 453 tokens/s "
        "measured for `lstmkit lm generate` before this benchmark existed.",
        "",
    ]
    lines += [
        f"Forecasting {fc['n']:,} monthly series (120 months each, horizon 12, anchor auto), whole pipeline "
        "(reading, preprocessing with per-series anchors, network, unscaling):",
        "",
        "| runtime | series/s |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:,.0f} |" for k, v in fc["rates"].items()]
    lines += ["", f"Largest relative difference of the ONNX forecasts from PyTorch's: {fc['max_rel']:.1e}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the cell step")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H, L, batch_first=True).eval()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        export_layer(lstm, root / "step")
        exact = exactness(lstm, root / "step")
        lat = {k: timed(fn, args.steps) for k, fn in step_runtimes(lstm, root / "step", 1, args.compile).items()}
        thr = {
            k: timed(fn, max(200, args.steps // 10))
            for k, fn in step_runtimes(lstm, root / "step", 64, args.compile).items()
        }
        gen = generation(root)
        fc = forecasting(root)
    text = render(lat, thr, exact, gen, fc, args)
    if not args.no_write:
        write_section("inference", text)
    print(text)


if __name__ == "__main__":
    main()
