"""What `lstmkit export` writes for a classifier: one graph from token ids (or standardised numbers) and
lengths to class probabilities, and the encoding (classes, tokenizer or feature statistics) beside it.
Notation as in model.py: B, T, V, F, C."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.deploy.export import ExportPlan, Graph, Port
from lstmkit.deploy.onnx_ops import recurrent_op
from lstmkit.tasks.classify.model import ClassifierNet

_NUMBERS = "(value - mean) / std per feature (encoding.json; with series_norm, of encoding.per_series(x))"


class ClassifyGraph(nn.Module):
    """(x (B, T) ids | (B, T, F) numbers, lengths (B,)) -> (logits (B, C), probabilities (B, C))."""

    def __init__(self, net: ClassifierNet, multi_label: bool) -> None:
        super().__init__()
        self.net, self.rnn, self.multi_label = net, recurrent_op(net.rnn), multi_label

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        e = self.net.inputs(x)  # (B, T, E)
        out = self.rnn(e, lengths)[0]  # (B, T, D*H), from the zero state
        logits = self.net.classify(out, e, lengths)  # (B, C)
        return logits, torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, -1)


def export_plan(c: Any) -> ExportPlan:
    net, enc = c._ready()
    net.eval()
    C = len(enc.classes)

    def example(b: int, t: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + t)
        lengths = torch.randint(1, t + 1, (b,), generator=g)
        lengths[0] = t
        x = (
            torch.randint(1, enc.vocab_size, (b, t), generator=g)
            if enc.kind == "text"
            else torch.randn(b, t, enc.input_features, generator=g)
        )
        return {"x": x, "lengths": lengths}

    x = (
        Port("x", "int64", ["batch", "time"], "token ids + 1 (0 is padding), as encoding.json's tokenizer gives")
        if enc.kind == "text"
        else Port("x", "float32", ["batch", "time", enc.input_features], _NUMBERS)
    )
    probs = "independent probability per class (multi-label)" if enc.multi_label else "class probabilities"
    graph = Graph(
        "model",
        ClassifyGraph(net, enc.multi_label),
        [
            x,
            Port("lengths", "int64", ["batch"], "real steps per example (the rest is padding)"),
        ],
        [
            Port("logits", "float32", ["batch", C], f"class scores, classes in encoding.json order: {enc.classes[:5]}"),
            Port("probabilities", "float32", ["batch", C], probs),
        ],
        example,
    )
    cfg = c.config
    meta = {
        "classes": enc.classes,
        "multi_label": enc.multi_label,
        "threshold": cfg.threshold,
        "kind": enc.kind,
        "text_col": cfg.text_col,
        "label_col": cfg.label_col,
        "label_sep": cfg.label_sep,
        "label_cols": cfg.label_cols,
    }
    return ExportPlan("classify", [graph], {"encoding": enc.to_dict()}, meta)
