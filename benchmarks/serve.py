"""`lstmkit serve` under load, loopback only: 32 concurrent clients, a mix of predict (classifier, forecaster),
session observe (forecaster) and short generate (language model) requests; errors, p50/p99
latency per kind, requests/s, and the server's memory after warm-up and at the end. The same load runs
against the same server with micro-batching off (`--batch-wait-ms 0`: one forward per request) to show what
batching buys.

    python benchmarks/serve.py [--requests 10000] [--clients 32] [--no-write]

The models are the small saved-model fixtures (tests/fixtures/models/v0.4.0): this measures the serving
path (HTTP, JSON, validation, batching, session persistence in SQLite), not model size. Client and server
share the machine's cores. Writes the `serve` section of BENCHMARKS.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "models" / "v0.4.0"
MIX = (("classify", 0.4), ("forecast", 0.2), ("observe", 0.3), ("generate", 0.1))
TEXTS = ["a fine film", "dull and far too long", "the cast is wonderful", "i want my money back", "not bad at all"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def month(k: int) -> str:
    return f"{1949 + k // 12}-{k % 12 + 1:02d}-01"


def history(uid: str, n: int = 36) -> list[dict]:
    return [{"unique_id": uid, "ds": month(k), "y": 120 + 2.0 * k + 15 * np.sin(k * np.pi / 6)} for k in range(n)]


def start(state_dir: Path, port: int, batch_wait_ms: float) -> subprocess.Popen:
    import httpx

    cmd = [
        sys.executable,
        "-m",
        "lstmkit.cli",
        "serve",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--batch-wait-ms",
        str(batch_wait_ms),
        "--max-sessions",
        "1000",
        *[a for t in ("classify", "forecast", "lm") for a in ("--model", f"{t}={FIXTURES / t}")],
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


async def client(http, base: str, n: int, seed: int, log: list, errors: list) -> None:
    """One client: `n` requests drawn from MIX; its own forecast session, observed in order."""
    rng = random.Random(seed)
    uid = f"c{seed}"
    made = await http.post(f"{base}/v1/models/forecast/sessions", json={"data": history(uid)})
    sid, seq = made.json()["id"], 0
    kinds, weights = zip(*MIX)
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        if kind == "classify":
            path, body = "/v1/models/classify/predict", {"data": [{"text": rng.choice(TEXTS)}]}
        elif kind == "forecast":
            path, body = "/v1/models/forecast/predict", {"data": history(uid, rng.randint(30, 48))}
        elif kind == "observe":
            k = 36 + seq
            path, body = f"/v1/sessions/{sid}/observe", {"data": [history(uid, k + 1)[-1]], "seq": seq + 1}
        else:
            path, body = "/v1/models/lm/generate", {"prompt": "to be", "max_new_tokens": 8, "seed": rng.randrange(1000)}
        t = time.perf_counter()
        r = await http.post(base + path, json=body)
        log.append((kind, time.perf_counter() - t))
        if r.status_code != 200:
            errors.append((kind, r.status_code, r.text[:200]))
        elif kind == "observe":
            seq += 1
    await http.delete(f"{base}/v1/sessions/{sid}")


async def load(base: str, requests: int, clients: int, log: list, errors: list) -> float:
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        t = time.perf_counter()
        per = -(-requests // clients)  # at least `requests` in all
        await asyncio.gather(*[client(http, base, per, 1000 * len(log) + i, log, errors) for i in range(clients)])
        return time.perf_counter() - t


def run(batch_wait_ms: float, requests: int, clients: int) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory() as state:
        proc = start(Path(state), port, batch_wait_ms)
        base = f"http://127.0.0.1:{port}"
        try:
            warm_log: list = []
            asyncio.run(load(base, max(clients * 10, requests // 10), clients, warm_log, []))
            rss_warm = rss_mb(proc.pid)
            log: list = []
            errors: list = []
            seconds = asyncio.run(load(base, requests, clients, log, errors))
            rss_end = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
    lat = {k: np.array([s for kk, s in log if kk == k]) * 1000 for k, _ in MIX}
    every = np.array([s for _, s in log]) * 1000
    return {
        "requests": len(log),
        "errors": len(errors),
        "error_examples": errors[:3],
        "seconds": seconds,
        "rps": len(log) / seconds,
        "p50": float(np.percentile(every, 50)),
        "p99": float(np.percentile(every, 99)),
        "by_kind": {
            k: (len(v), float(np.percentile(v, 50)), float(np.percentile(v, 99))) for k, v in lat.items() if len(v)
        },
        "rss_warm": rss_warm,
        "rss_end": rss_end,
    }


def report(results: dict[str, dict], args: argparse.Namespace) -> str:
    today = datetime.date.today().isoformat()
    lines = [
        f"## Serving under load ({today})",
        "",
        f"Command: `python benchmarks/serve.py --requests {args.requests} --clients {args.clients}`  ",
        f"Machine: {machine()}; client and server on the same cores, loopback.  ",
        "Models: the v0.4.0 saved-model fixtures (classifier, forecaster, language model): the serving path, "
        "not model size. Mix: 40 % classify predict, 20 % forecast predict (30-48 history rows), 30 % session "
        "observe (one new row, seq checked, state written to SQLite before answering), 10 % generate "
        "(8 tokens). Memory: the server's RSS after a warm-up of a tenth of the requests, and at the end.",
        "",
        "| server | requests | errors | requests/s | p50 ms | p99 ms | RSS after warm-up → end (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['requests']:,} | {r['errors']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['rss_warm']:.0f} → {r['rss_end']:.0f} ({100 * (r['rss_end'] / r['rss_warm'] - 1):+.1f} %) |"
        )
    lines += ["", "| kind | server | requests | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for k, _ in MIX:
        for name, r in results.items():
            if k in r["by_kind"]:
                n, p50, p99 = r["by_kind"][k]
                lines.append(f"| {k} | {name} | {n:,} | {p50:.1f} | {p99:.1f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--batch-wait-ms", type=float, default=2.0, help="the batching server's wait (default: %(default)s)")
    p.add_argument("--no-write", action="store_true", help="print, do not write BENCHMARKS.md")
    args = p.parse_args()
    results = {}
    for name, wait in (
        (f"micro-batched ({args.batch_wait_ms:g} ms)", args.batch_wait_ms),
        ("one forward per request", 0.0),
    ):
        print(f"{name} ...", file=sys.stderr)
        results[name] = run(wait, args.requests, args.clients)
        r = results[name]
        print(
            f"  {r['requests']} requests, {r['errors']} errors, {r['rps']:.0f}/s, p50 {r['p50']:.1f} ms, p99 "
            f"{r['p99']:.1f} ms, "
            f"RSS {r['rss_warm']:.0f} -> {r['rss_end']:.0f} MB {r['error_examples']}",
            file=sys.stderr,
        )
    text = report(results, args)
    print(text)
    if not args.no_write:
        write_section("serve", text)


if __name__ == "__main__":
    main()
