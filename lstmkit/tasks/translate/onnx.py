"""What `lstmkit export` writes for a translator: the encoder (source ids -> memory and the decoder's first
state) and one decoder step (previous token, state, attentional vector, memory -> log-probabilities, new
state, attention), so greedy or beam search runs outside PyTorch with the state cached between steps; and
the vocabularies and decoding settings beside them. Notation as in model.py: B, S, H, L, A, V."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.config import to_dict
from lstmkit.deploy.export import ExportPlan, Graph, Port
from lstmkit.deploy.onnx_ops import OnnxRecurrent
from lstmkit.errors import UsageError
from lstmkit.tasks.translate.features import BOS, EOS, PAD, SPECIALS
from lstmkit.tasks.translate.model import Memory, Seq2Seq


def _mask(lengths: Tensor, S: int) -> Tensor:
    return torch.arange(S)[None] < lengths[:, None]  # (B, S)


class EncoderGraph(nn.Module):
    """(src (B, S), src_lengths (B,)) -> (values, keys (B, S, H), h0, c0 (L, B, H))."""

    def __init__(self, net: Seq2Seq) -> None:
        super().__init__()
        self.net, self.rnn = net, OnnxRecurrent(net.encoder)

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        net = self.net
        e = net.src_embed(src)  # (B, S, E)
        zeros = torch.zeros(2 * net.L, e.shape[0], net.H, dtype=e.dtype)
        out, h, c = self.rnn(e, src_lengths, zeros, zeros)  # (B, S, 2H); (2L, B, H)
        B = e.shape[0]
        both = lambda s: s.view(net.L, 2, B, net.H).transpose(1, 2).reshape(net.L, B, 2 * net.H)  # noqa: E731
        memory = net.memory_of(out, src_lengths)
        return memory.values, memory.keys, torch.tanh(net.bridge_h(both(h))), net.bridge_c(both(c))


class DecoderStepGraph(nn.Module):
    """(y (B,), h, c (L, B, H), feed (B, A), values, keys (B, S, H), src_lengths (B,)) ->
    (logp (B, V), h_out, c_out, feed_out (B, A), attention (B, S))."""

    def __init__(self, net: Seq2Seq) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, y: Tensor, h: Tensor, c: Tensor, feed: Tensor, values: Tensor, keys: Tensor, src_lengths: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        memory = Memory(values, keys, _mask(src_lengths, values.shape[1]))
        logp, (h, c), feed, w = self.net.step(y, (h, c), feed, memory)
        return logp, h, c, feed, w


def export_plan(t: Any) -> ExportPlan:
    net, vocab = t._ready()
    if getattr(net, "cell", "lstm") != "lstm":
        raise UsageError(
            f"this translation model's cell is {net.cell}; ONNX export of translation models covers the lstm cell "
            "(serve it with --runtime torch, or train with --cell lstm to export)"
        )
    net.eval()
    L, H, A, V = net.L, net.H, net.A, vocab.tgt_size

    def encoder_example(b: int, s: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + s)
        lengths = torch.randint(1, s + 1, (b,), generator=g)
        lengths[0] = s
        src = torch.randint(SPECIALS, vocab.src_size, (b, s), generator=g)
        return {"src": src.masked_fill(~_mask(lengths, s), PAD), "src_lengths": lengths}

    def step_example(b: int, s: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + s + 1)
        lengths = torch.randint(1, s + 1, (b,), generator=g)
        lengths[0] = s
        r = lambda *shape: 0.5 * torch.randn(*shape, generator=g)  # noqa: E731
        return {
            "y": torch.randint(SPECIALS, V, (b,), generator=g),
            "h": r(L, b, H),
            "c": r(L, b, H),
            "feed": r(b, A),
            "values": r(b, s, H),
            "keys": r(b, s, H),
            "src_lengths": lengths,
        }

    state = "decoder state (L, batch, H): the encoder's h0/c0 before the first step"
    mem = "the encoder's memory (keep it for every step; reorder it with the beams)"
    encoder = Graph(
        "encoder",
        EncoderGraph(net),
        [
            Port("src", "int64", ["batch", "src_time"], "source ids (vocab.json src tokenizer ids + 3; 0 pads)"),
            Port("src_lengths", "int64", ["batch"], "real source tokens per sentence"),
        ],
        [
            Port("values", "float32", ["batch", "src_time", H], mem),
            Port("keys", "float32", ["batch", "src_time", H], mem),
            Port("h0", "float32", [L, "batch", H], "the decoder's initial hidden state"),
            Port("c0", "float32", [L, "batch", H], "the decoder's initial cell state"),
        ],
        encoder_example,
    )
    step = Graph(
        "decoder_step",
        DecoderStepGraph(net),
        [
            Port("y", "int64", ["batch"], f"the previous target token (BOS = {BOS} at the first step)"),
            Port("h", "float32", [L, "batch", H], f"hidden {state}"),
            Port("c", "float32", [L, "batch", H], f"cell {state}"),
            Port("feed", "float32", ["batch", A], "the previous attentional vector (zeros at the first step)"),
            Port("values", "float32", ["batch", "src_time", H], mem),
            Port("keys", "float32", ["batch", "src_time", H], mem),
            Port("src_lengths", "int64", ["batch"], "real source tokens per sentence (attention ignores the rest)"),
        ],
        [
            Port("logp", "float32", ["batch", V], f"log-probabilities of the next token (EOS = {EOS})"),
            Port("h_out", "float32", [L, "batch", H], "new hidden state"),
            Port("c_out", "float32", [L, "batch", H], "new cell state"),
            Port("feed_out", "float32", ["batch", A], "the new attentional vector (next step's feed)"),
            Port("attention", "float32", ["batch", "src_time"], "where this step looked (sums to 1 over real tokens)"),
        ],
        step_example,
    )
    meta = {
        "pad": PAD,
        "bos": BOS,
        "eos": EOS,
        "specials": SPECIALS,
        "num_layers": L,
        "hidden_size": H,
        "feed_size": A,
        "decoding": to_dict(t.decoding),
    }
    return ExportPlan("translate", [encoder, step], {"vocab": vocab.to_dict()}, meta)
