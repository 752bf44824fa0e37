"""Training throughput and peak memory of the modern cells against the fused LSTM, in one run.

    python benchmarks/modern_cells.py [--lengths 256 1024 4096] [--batch 8] [--hidden 128] [--repeats 3]
                                      [--device cpu|cuda] [--bf16] [--section NAME]

Each (cell, T) runs in a fresh process (so its peak RSS is its own): a layer of hidden size H on input size H,
batch B, forward + backward of sum(output), the median of `--repeats` timed passes after one warm-up.
tokens/s = B * T / seconds; `speed` = the fused LSTM's seconds / this cell's, same T (higher is better). The
step latency row times one streaming step (B = 1, T = 1, 2 layers) with the state carried. On `--device cuda`
the fused LSTM is cuDNN's, times are taken after a synchronise and memory is the GPU's peak allocation (torch's
allocator) instead of the process's RSS; `--bf16` runs under bfloat16 autocast. Writes the section
`modern-cells` (or `--section`) of BENCHMARKS.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CELLS = ("lstm", "slstm", "mlstm", "minlstm", "mingru")
REFERENCE = ("xlstm-slstm", "xlstm-mlstm")  # the xlstm package's layers (--xlstm), T <= --xlstm-max-length

CHILD = r"""
import json, resource, statistics, sys, time, torch
from lstmkit import nn as lnn
cell = sys.argv[1]
T, B, H, repeats, threads = (int(a) for a in sys.argv[2:7])
device, bf16 = sys.argv[7], sys.argv[8] == "1"
torch.set_num_threads(threads)
torch.manual_seed(0)
class XL(torch.nn.Module):
    # the xlstm package's sLSTM layer (vanilla backend: its CPU path) or mLSTM layer (parallel stabilised form,
    # up-projection 2) as it comes, called like ours: y, state = m(x, state); one step at a time through its step

    def __init__(self, kind, I, H, num_layers=1, batch_first=True):
        super().__init__()
        if kind == "slstm":
            from xlstm.blocks.slstm.layer import sLSTMLayer, sLSTMLayerConfig
            cfg = dict(embedding_dim=H, num_heads=4, backend="vanilla", conv1d_kernel_size=0)
            make = lambda: sLSTMLayer(sLSTMLayerConfig(**cfg))
        else:
            from xlstm.blocks.mlstm.layer import mLSTMLayer, mLSTMLayerConfig
            make = lambda: mLSTMLayer(mLSTMLayerConfig(embedding_dim=H, num_heads=4, context_length=max(T, 2)))
        self.layers = torch.nn.ModuleList(make() for _ in range(num_layers))

    def forward(self, x, state=None):
        if x.shape[1] > 1:
            for layer in self.layers:
                x = layer(x)
            return x, None
        state = state or [{} for _ in self.layers]
        new = []
        for layer, s in zip(self.layers, state):
            x, s = layer.step(x, **s)
            new.append(s)
        return x, new

if cell.startswith("xlstm-"):
    cls = lambda *a, **k: XL(cell[6:], *a, **k)
else:
    cls = {"lstm": lnn.LSTM, "slstm": lnn.sLSTM, "mlstm": lnn.mLSTM, "minlstm": lnn.minLSTM, "mingru": lnn.minGRU}[cell]
layer = cls(H, H, batch_first=True).to(device)
x = torch.randn(B, T, H, device=device, requires_grad=True)
def sync():
    if device == "cuda":
        torch.cuda.synchronize()
def once():
    sync()
    t = time.perf_counter()
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        y, _ = layer(x)
    y.float().sum().backward()
    sync()
    return time.perf_counter() - t
once()
times = [once() for _ in range(repeats)]
step = cls(H, H, num_layers=2, batch_first=True).to(device).eval()
xs = torch.randn(1, 200, H, device=device)
with torch.no_grad():
    state = None
    for t in range(20):
        _, state = step(xs[:, t : t + 1], state)
    sync()
    t0 = time.perf_counter()
    for t in range(20, 200):
        _, state = step(xs[:, t : t + 1], state)
    sync()
    step_us = (time.perf_counter() - t0) / 180 * 1e6
if device == "cuda":
    rss = torch.cuda.max_memory_allocated() / 2**20
else:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": statistics.median(times), "rss_mb": rss, "step_us": step_us}))
"""


def measure(cell: str, T: int, args: argparse.Namespace) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            cell,
            str(T),
            str(args.batch),
            str(args.hidden),
            str(args.repeats),
            str(args.threads),
            args.device,
            "1" if args.bf16 else "0",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", nargs="+", type=int, default=[256, 1024, 4096])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cells", nargs="+", default=list(CELLS))
    p.add_argument("--xlstm", action="store_true", help="add the xlstm package's sLSTM and mLSTM layers (if installed)")
    p.add_argument("--xlstm-max-length", type=int, default=1024, help="longest T for them (mLSTM's is O(T^2))")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    p.add_argument("--section", default="modern-cells", help="the BENCHMARKS.md section written")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    rows = []
    for T in args.lengths:
        base = None
        extra = [c for c in REFERENCE if args.xlstm and args.xlstm_max_length >= T]
        for cell in [*args.cells, *extra]:
            r = measure(cell, T, args)
            base = r["seconds"] if cell == "lstm" else base
            rows.append({"cell": cell, "T": T, **r, "speed": (base / r["seconds"]) if base else float("nan")})
            print(
                f"{cell:8s} T={T:5d} {r['seconds'] * 1e3:9.1f} ms  {args.batch * T / r['seconds']:10.0f} tok/s  "
                f"speed {rows[-1]['speed']:.2f}x  RSS {r['rss_mb']:.0f} MB  step {r['step_us']:.0f} us",
                flush=True,
            )
    from benchmarks._report import machine, write_section

    flags = (f" --device {args.device}" if args.device != "cpu" else "") + (" --bf16" if args.bf16 else "")
    flags += " --xlstm" if args.xlstm else ""
    memory = "peak GPU MB (allocated)" if args.device == "cuda" else "peak RSS MB"
    lines = [
        f"`python benchmarks/modern_cells.py --lengths {' '.join(map(str, args.lengths))} --batch {args.batch} "
        f"--hidden {args.hidden} --repeats {args.repeats}{flags}` ({date.today()}, {machine()}; nothing else ran)",
        "",
        f"| cell | T | fwd+bwd ms | tokens/s | speed vs fused LSTM | {memory} | streaming step µs (B=1, 2 layers) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['cell']} | {r['T']} | {r['seconds'] * 1e3:.1f} | {args.batch * r['T'] / r['seconds']:.0f} | "
            f"{r['speed']:.2f}× | {r['rss_mb']:.0f} | {r['step_us']:.0f} |"
        )
    if not args.no_write:
        where = " on a GPU" if args.device == "cuda" else ""
        write_section(args.section, f"## Modern cells: training throughput and memory{where}\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
