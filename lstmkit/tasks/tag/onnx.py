"""What `lstmkit export` writes for a tagger: one graph from ids (tokens) or standardised values (series) and
lengths to each tag's score at each step, and the encoding (and CRF transition scores) beside it; the runtime
decodes with the same predictor as PyTorch (predictor.py). Notation as in model.py: B, T, F, K."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.config import to_dict
from lstmkit.deploy.export import ExportPlan, Graph, Port
from lstmkit.deploy.onnx_ops import recurrent_op
from lstmkit.tasks.tag.model import TagNet


class TagGraph(nn.Module):
    """(x (B, T, 3) ids | (B, T, F) values, lengths (B,)) -> emissions (B, T, K)."""

    def __init__(self, net: TagNet) -> None:
        super().__init__()
        self.net, self.rnn = net, recurrent_op(net.rnn)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        out = self.rnn(self.net.inputs(x), lengths)[0]  # (B, T, D*H), from the zero state
        return self.net.head(out)  # (B, T, K)


def export_plan(t: Any) -> ExportPlan:
    p = t.predictor
    net, enc = t.net.eval(), p.encoding

    def example(b: int, time: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + time)
        lengths = torch.randint(1, time + 1, (b,), generator=g)
        lengths[0] = time
        if enc.kind == "tokens":
            ids = torch.stack(
                [
                    torch.randint(1, len(enc.words) + 2, (b, time), generator=g),
                    torch.randint(1, len(enc.suffixes) + 2, (b, time), generator=g),
                    torch.randint(1, 6, (b, time), generator=g),
                ],
                -1,
            )
            return {"x": ids, "lengths": lengths}
        return {"x": torch.randn(b, time, enc.input_width, generator=g), "lengths": lengths}

    x = (
        Port("x", "int64", ["batch", "time", 3], "word, suffix and shape ids per token (encoding.json; 0 pads)")
        if enc.kind == "tokens"
        else Port("x", "float32", ["batch", "time", enc.input_width], "scaled values, then their changes (encoding.py)")
    )
    graph = Graph(
        "model",
        TagGraph(net),
        [x, Port("lengths", "int64", ["batch"], "real steps per sequence")],
        [Port("emissions", "float32", ["batch", "time", len(enc.tags)], "each tag's score at each step")],
        example,
    )
    crf = p.network.crf()
    assets = {"encoding": enc.to_dict(), "config": to_dict(t.config)}
    if crf is not None:
        assets["crf"] = {k: v.tolist() for k, v in crf.items()}
    return ExportPlan("tag", [graph], assets, {"tags": enc.tags, "crf": crf is not None})
