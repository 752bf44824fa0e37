"""What `lstmkit export` writes for a language model: one step graph (token ids + state in -> logits + state
out, any batch, any number of tokens), so generation runs outside PyTorch (onnx_runtime.py), and the
tokenizer beside it. Notation as in model.py: B, T, V, L, H."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.deploy.export import ExportPlan, Graph, Port
from lstmkit.deploy.onnx_ops import OnnxRecurrent, full_lengths
from lstmkit.tasks.lm.model import LanguageNet

SCORE_CHARS = 20_000  # held-out characters scored for the int8 accuracy change


class StepGraph(nn.Module):
    """(tokens (B, T), h, c (L, B, H)) -> (logits (B, T, V), h_out, c_out)."""

    def __init__(self, net: LanguageNet) -> None:
        super().__init__()
        self.net, self.rnn = net, OnnxRecurrent(net.rnn)

    def forward(self, tokens: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out, h, c = self.rnn(self.net.embedding(tokens), full_lengths(tokens), h, c)  # (B, T, H)
        return self.net.logits(out), h, c


def export_plan(lm: Any) -> ExportPlan:
    net, tok = lm._ready()
    net.eval()
    L, H, V = net.rnn.num_layers, net.rnn.hidden_size, tok.vocab_size

    def example(b: int, t: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + t)
        return {
            "tokens": torch.randint(0, V, (b, t), generator=g),
            "h": 0.5 * torch.randn(L, b, H, generator=g),
            "c": 0.5 * torch.randn(L, b, H, generator=g),
        }

    state = "the LSTM state (zeros before the first token), layer-major"
    graph = Graph(
        "model",
        StepGraph(net),
        [
            Port("tokens", "int64", ["batch", "time"], "token ids (the tokenizer in tokenizer.json)"),
            Port("h", "float32", [L, "batch", H], f"hidden {state}"),
            Port("c", "float32", [L, "batch", H], f"cell {state}"),
        ],
        [
            Port("logits", "float32", ["batch", "time", V], "next-token logits after each input token"),
            Port("h_out", "float32", [L, "batch", H], "the hidden state after the last token"),
            Port("c_out", "float32", [L, "batch", H], "the cell state after the last token"),
        ],
        example,
    )
    return ExportPlan(
        "lm", [graph], {"tokenizer": tok.to_dict()}, {"num_layers": L, "hidden_size": H, "vocab_size": V}, _scorer(lm)
    )


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
