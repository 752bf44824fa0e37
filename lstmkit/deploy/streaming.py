"""The fastest way lstmkit runs one recurrent step for one stream: an exported graph on onnxruntime with its
inputs and outputs bound once (IOBinding over numpy buffers that never move), so a step is one native call
with no allocation and no Python-side copies. Serving runs this per request. No torch on this path.

    step = StreamingStep("runs/lm/x/onnx")          # the graph's recurrent inputs/outputs found by name
    logits = step({"tokens": [[17]]})                # state carried inside, updated in place each call
    saved = step.state()                             # copies of the state (to park a session)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lstmkit.deploy.onnx_runtime import OnnxRunner


def state_pairs(inputs: dict[str, Any], outputs: dict[str, Any]) -> list[tuple[str, str]]:
    """The recurrent (input, output) pairs of a graph: X <- X_out, or X0 <- X (the next call's input is the
    previous call's output), whatever the cell's state tensors are called."""
    pairs = [(i, f"{i}_out") for i in inputs if f"{i}_out" in outputs]
    return pairs + [(i, i[:-1]) for i in inputs if i.endswith("0") and i[:-1] in outputs]


class StreamingStep:
    """One stream's step with everything bound once: fixed input buffers (written in place each call), the
    state in two buffers per tensor (the outputs of call k are the inputs of call k+1; two prepared bindings
    alternate), and fixed output buffers (returned as views: copy them to keep them past the next call)."""

    def __init__(
        self, path: str | Path | OnnxRunner, graph: str = "model", batch: int = 1, variant: str = "fp32", time: int = 1
    ) -> None:
        self.runner = path if isinstance(path, OnnxRunner) else OnnxRunner(path, variant)
        self.sess = self.runner.sessions[graph]
        spec = self.runner.signature["graphs"][graph]
        ins = {p["name"]: p for p in spec["inputs"] if not p.get("unused")}
        outs = {p["name"]: p for p in spec["outputs"]}
        dims = {"batch": batch, "time": time}
        shape = lambda p: [dims.get(d, 1) if isinstance(d, str) else d for d in p["shape"]]  # noqa: E731
        alloc = lambda p: np.zeros(shape(p), dtype=p["dtype"])  # noqa: E731
        self.pairs = state_pairs(ins, outs)
        state_in, state_out = {i for i, _ in self.pairs}, {o for _, o in self.pairs}
        self.inputs = {n: alloc(p) for n, p in ins.items() if n not in state_in}
        self.outputs = {n: alloc(p) for n, p in outs.items() if n not in state_out}
        self.buffers = {i: (alloc(ins[i]), alloc(ins[i])) for i, _ in self.pairs}
        self.bindings = [self._bind(k) for k in (0, 1)]
        self.flip = 0

    def _bind(self, k: int) -> Any:
        b = self.sess.io_binding()
        for name, buf in self.inputs.items():
            b.bind_cpu_input(name, buf)
        for name, buf in self.outputs.items():
            b.bind_output(name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        for i, o in self.pairs:
            src, dst = self.buffers[i][k], self.buffers[i][1 - k]
            b.bind_cpu_input(i, src)
            b.bind_output(o, "cpu", 0, dst.dtype, list(dst.shape), dst.ctypes.data)
        return b

    def reset(self) -> None:
        for pair in self.buffers.values():
            for buf in pair:
                buf.fill(0.0)

    def state(self) -> dict[str, np.ndarray]:
        return {k: v[self.flip].copy() for k, v in self.buffers.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for k, v in state.items():
            self.buffers[k][self.flip][...] = v

    def __call__(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        """Write the step's non-state inputs, run, return its non-state outputs (views, valid until the next
        call). The state advances in place."""
        for name, value in feeds.items():
            self.inputs[name][...] = value
        self.sess.run_with_iobinding(self.bindings[self.flip])
        self.flip = 1 - self.flip
        return self.outputs
