"""What `lstmkit export` writes for a language model: one step graph (token ids + state in -> logits + state
out, any batch, any number of tokens, any cell), so generation runs outside PyTorch (onnx_runtime.py), and the
tokenizer beside it. Notation as in model.py: B, T, V, L, H."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.deploy.export import ExportPlan, Graph, Port
from lstmkit.deploy.onnx_ops import example_state, full_lengths, recurrent_op, state_names, state_shapes
from lstmkit.tasks.lm.model import LanguageNet

SCORE_CHARS = 20_000  # held-out characters scored for the int8 accuracy change


class StepGraph(nn.Module):
    """(tokens (B, T), *state) -> (logits (B, T, V), *state after the last token); the state is the cell's
    (the LSTM's h, c (L, B, H); the modern cells' fields, batch on dim 1)."""

    def __init__(self, net: LanguageNet) -> None:
        super().__init__()
        self.net, self.rnn = net, recurrent_op(net.rnn)

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        out, *state = self.rnn(self.net.embedding(tokens), full_lengths(tokens), *state)  # (B, T, H)
        return (self.net.logits(out), *state)


class OneTokenGraph(nn.Module):
    """(tokens (B, 1), *state) -> (logits (B, 1, V), *state): one step of a modern cell traced as plain
    arithmetic (no ONNX Loop), the streaming path's graph `step` (token_steps)."""

    def __init__(self, net: LanguageNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        out, new = self.net.rnn(self.net.embedding(tokens), self.net.rnn.state_type(*state))  # (B, 1, H)
        return (self.net.logits(out), *new)


def export_plan(lm: Any) -> ExportPlan:
    net, tok = lm._ready()
    net.eval()
    L, H, V = net.rnn.num_layers, net.rnn.hidden_size, tok.vocab_size
    names, shapes = state_names(net.rnn), state_shapes(net.rnn)

    def example(b: int, t: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + t)
        state = example_state(net.rnn, b, g)
        return {"tokens": torch.randint(0, V, (b, t), generator=g), **dict(zip(names, state))}

    cell = getattr(net.rnn, "cell_kind", "lstm")
    meaning = f"the {cell} state (zeros before the first token), layer-major, batch on axis 1"
    graph = Graph(
        "model",
        StepGraph(net),
        [
            Port("tokens", "int64", ["batch", "time"], "token ids (the tokenizer in tokenizer.json)"),
            *[Port(n, "float32", s, f"{n}: {meaning}") for n, s in zip(names, shapes)],
        ],
        [
            Port("logits", "float32", ["batch", "time", V], "next-token logits after each input token"),
            *[Port(f"{n}_out", "float32", s, f"{n} after the last token") for n, s in zip(names, shapes)],
        ],
        example,
    )
    meta = {"num_layers": L, "hidden_size": H, "vocab_size": V, "cell": cell, "state": names}
    graphs = [graph]
    if hasattr(net.rnn, "state_type"):  # a modern cell: also its one-token step without the Loop

        def one(b: int, t: int) -> dict[str, Tensor]:
            return {**example(b, t), "tokens": example(b, t)["tokens"][:, :1]}

        ports_in = [Port("tokens", "int64", ["batch", 1], "one token id per stream"), *graph.inputs[1:]]
        ports_out = [Port("logits", "float32", ["batch", 1, V], "next-token logits"), *graph.outputs[1:]]
        graphs.append(Graph("step", OneTokenGraph(net), ports_in, ports_out, one))
    return ExportPlan("lm", graphs, {"tokenizer": tok.to_dict()}, meta, _scorer(lm))


def _scorer(lm: Any) -> Any:
    """Bits per character of a runner on the model's held-out text (None when that text cannot be read)."""
    from lstmkit.data.text import TextError, load_corpus

    try:
        text = (lm.corpus or load_corpus(lm.config.text, lm.config.val_text)).test[:SCORE_CHARS]
    except (TextError, OSError, TypeError, ValueError):
        return None

    def score(runner: Any) -> dict[str, float]:
        from lstmkit.tasks.lm.onnx_runtime import OnnxLanguageModel

        return {"bpc": OnnxLanguageModel(runner).evaluate(text)["bpc"]}

    return score
