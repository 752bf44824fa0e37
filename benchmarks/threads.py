"""Training under load: each task's short training command with `--threads 1` and `--threads 2`, on an idle machine
and with one competing CPU-bound process (`sh -c 'while :; do :; done'`), wall seconds of the whole command.

    python benchmarks/threads.py [--tasks lm classify longrange] [--repeat 1]

Run it alone on the machine: it makes its own competing process. Writes the `threads-tasks` section of
BENCHMARKS.md: task, threads, idle, busy, and the worst busy slowdown against the task's best setting.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, write_section

LSTMKIT = str(Path(sys.executable).parent / "lstmkit")
COMMANDS = {
    "lm": ["lm", "train", "--text", "shakespeare", "--max-steps", "80", "--hidden-size", "256"],
    "classify": ["classify", "train", "--data", "trump-tweets", "--max-steps", "80"],
    "longrange": ["longrange", "train", "--task", "adding", "--length", "100", "--max-steps", "150"],
    "forecast": ["forecast", "train", "--data", "air-passengers", "--epochs", "10"],
}


def run(task: str, threads: int, out: Path) -> float:
    """Wall seconds of the task's command (its output goes to a fresh run folder)."""
    cmd = [LSTMKIT, *COMMANDS[task], "--threads", str(threads), "--out", str(out / f"{task}-{threads}"), "--json"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def measure(tasks: list[str], repeat: int) -> dict[tuple[str, int, str], float]:
    """{(task, threads, idle|busy): best of `repeat` wall seconds}, after one warm-up run per task."""
    out: dict[tuple[str, int, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            run(task, 1, Path(tmp) / "warm")
        for load in ("idle", "busy"):
            hog = subprocess.Popen(["sh", "-c", "while :; do :; done"]) if load == "busy" else None
            try:
                for task in tasks:
                    for threads in (1, 2):
                        out[task, threads, load] = min(run(task, threads, Path(tmp) / load) for _ in range(repeat))
                        print(f"{task} threads={threads} {load}: {out[task, threads, load]:.1f} s", file=sys.stderr)
            finally:
                if hog is not None:
                    hog.kill()
    return out


def render(res: dict[tuple[str, int, str], float], tasks: list[str], args: argparse.Namespace) -> str:
    lines = [
        "## Training under load, every task (threads)",
        "",
        f"Command: `python benchmarks/threads.py --tasks {' '.join(tasks)} --repeat {args.repeat}`  ",
        f'Machine: {machine()}, {datetime.date.today()}; nothing else ran; "busy": one other CPU-bound process '
        "for the whole command. Wall seconds of the whole command (reading data, training, evaluating), best of "
        f"{args.repeat}, after a warm-up run. Commands: "
        + "; ".join(f"`lstmkit {' '.join(COMMANDS[t])} --threads N`" for t in tasks)
        + ".",
        "",
        "| task | threads | idle machine | busy machine | busy: vs the best setting when busy | idle: vs the best "
        "when idle |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for task in tasks:
        best = {load: min(res[task, n, load] for n in (1, 2)) for load in ("idle", "busy")}
        for n in (1, 2):
            default = " (default)" if n == 1 else ""
            lines.append(
                f"| {task} | {n}{default} | {res[task, n, 'idle']:.1f} | {res[task, n, 'busy']:.1f} | "
                f"{res[task, n, 'busy'] / best['busy']:.2f}x | {res[task, n, 'idle'] / best['idle']:.2f}x |"
            )
    worst = max(res[t, 1, "busy"] / min(res[t, n, "busy"] for n in (1, 2)) for t in tasks)
    idle = max(res[t, 1, "idle"] / min(res[t, n, "idle"] for n in (1, 2)) for t in tasks)
    lines += [
        "",
        f"With the default (one thread) and a competing process, the worst task is {worst:.2f}x its best setting "
        f"(target: within 2x); on an idle machine the default costs up to {idle:.2f}x.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["lm", "classify", "longrange", "forecast"], choices=COMMANDS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    res = measure(args.tasks, args.repeat)
    text = render(res, args.tasks, args)
    if not args.no_write:
        write_section("threads-tasks", text)
    print(text)


if __name__ == "__main__":
    main()
