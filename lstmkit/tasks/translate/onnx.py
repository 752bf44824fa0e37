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
from lstmkit.deploy.onnx_ops import recurrent_op
from lstmkit.tasks.translate.features import BOS, EOS, PAD, SPECIALS
from lstmkit.tasks.translate.model import Memory, Seq2Seq


def _mask(lengths: Tensor, S: int) -> Tensor:
    return torch.arange(S)[None] < lengths[:, None]  # (B, S)


class EncoderGraph(nn.Module):
    """(src (B, S), src_lengths (B,)) -> (values, keys (B, S, H), feed0 (B, A), the decoder's first state
    tensors (LSTM: h0, c0 (L, B, H); GRU/RNN: h0; the modern cells: their fields))."""

    def __init__(self, net: Seq2Seq) -> None:
        super().__init__()
        self.net, self.rnn = net, recurrent_op(net.encoder)

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, ...]:
        net = self.net
        out, *final = self.rnn(net.src_embed(src), src_lengths)  # (B, S, 2H); the final state's tensors
        memory = net.memory_of(out, src_lengths)
        last = tuple(final) if net.cell == "lstm" else final[0]  # GRU/RNN: h (the op passes a c through)
        state = net.state_tensors(net.initial_state(last, out))
        return (memory.values, memory.keys, net.initial_feed(memory), *state)


class DecoderStepGraph(nn.Module):
    """(y (B,), *state, feed (B, A), values, keys (B, S, H), src_lengths (B,)) ->
    (logp (B, V), *state_out, feed_out (B, A), attention (B, S)); the state as in EncoderGraph."""

    def __init__(self, net: Seq2Seq) -> None:
        super().__init__()
        self.net, self.k = net, len(net.state_names())

    def forward(self, y: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        state, (feed, values, keys, src_lengths) = list(rest[: self.k]), rest[self.k :]
        memory = Memory(values, keys, _mask(src_lengths, values.shape[1]))
        logp, new, feed, w = self.net.step(y, self.net.state_of(state), feed, memory)
        return (logp, *self.net.state_tensors(new), feed, w)


def _state_ports(net: Seq2Seq, batch_of: Any) -> tuple[list[str], list[list[Any]], Any]:
    """The decoder state's names, shapes (batch named) and an example of b rows (a state the cell can be in)."""
    names = net.state_names()
    with torch.no_grad():
        probe = net.state_tensors(net.initial_state(*batch_of(1)))
    shapes = [[d if i != 1 else "batch" for i, d in enumerate(t.shape)] for t in probe]

    def example(b: int, g: torch.Generator) -> list[Tensor]:
        if net.cell in ("lstm", "gru", "rnn"):
            return [0.5 * torch.randn(*[b if d == "batch" else d for d in sh], generator=g) for sh in shapes]
        with torch.no_grad():  # a modern cell's state after a few random steps (a normaliser must be positive)
            x = torch.randn(b, 3, net.decoder.input_size, generator=g)
            return net.state_tensors(net.decoder(x)[1])

    return names, shapes, example


MEMORY = "the encoder's memory (keep it for every step; reorder it with the beams)"


def _encoder_graph(net: Seq2Seq, src_size: int, names: list[str], shapes: list[list[Any]]) -> Graph:
    H, A = net.H, net.A

    def example(b: int, s: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + s)
        lengths = torch.randint(1, s + 1, (b,), generator=g)
        lengths[0] = s
        src = torch.randint(SPECIALS, src_size, (b, s), generator=g)
        return {"src": src.masked_fill(~_mask(lengths, s), PAD), "src_lengths": lengths}

    return Graph(
        "encoder",
        EncoderGraph(net),
        [
            Port("src", "int64", ["batch", "src_time"], "source ids (vocab.json src tokenizer ids + 3; 0 pads)"),
            Port("src_lengths", "int64", ["batch"], "real source tokens per sentence"),
        ],
        [
            Port("values", "float32", ["batch", "src_time", H], MEMORY),
            Port("keys", "float32", ["batch", "src_time", H], MEMORY),
            Port("feed0", "float32", ["batch", A], "the first step's attentional vector (feed)"),
            *[Port(f"{n}0", "float32", sh, f"the decoder's initial {n}") for n, sh in zip(names, shapes)],
        ],
        example,
    )


def _step_graph(net: Seq2Seq, V: int, names: list[str], shapes: list[list[Any]], example_state: Any) -> Graph:
    H, A = net.H, net.A

    def example(b: int, s: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + s + 1)
        lengths = torch.randint(1, s + 1, (b,), generator=g)
        lengths[0] = s
        r = lambda *shape: 0.5 * torch.randn(*shape, generator=g)  # noqa: E731
        state = dict(zip(names, example_state(b, g)))
        y = torch.randint(SPECIALS, V, (b,), generator=g)
        return {"y": y, **state, "feed": r(b, A), "values": r(b, s, H), "keys": r(b, s, H), "src_lengths": lengths}

    state = f"the {net.cell} decoder's state, batch on axis 1 (the encoder's {names[0]}0... before the first step)"
    return Graph(
        "decoder_step",
        DecoderStepGraph(net),
        [
            Port("y", "int64", ["batch"], f"the previous target token (BOS = {BOS} at the first step)"),
            *[Port(n, "float32", sh, f"{n}: {state}") for n, sh in zip(names, shapes)],
            Port("feed", "float32", ["batch", A], "the previous attentional vector (the encoder's feed0 first)"),
            Port("values", "float32", ["batch", "src_time", H], MEMORY),
            Port("keys", "float32", ["batch", "src_time", H], MEMORY),
            Port("src_lengths", "int64", ["batch"], "real source tokens per sentence (attention ignores the rest)"),
        ],
        [
            Port("logp", "float32", ["batch", V], f"log-probabilities of the next token (EOS = {EOS})"),
            *[Port(f"{n}_out", "float32", sh, f"new {n}") for n, sh in zip(names, shapes)],
            Port("feed_out", "float32", ["batch", A], "the new attentional vector (next step's feed)"),
            Port("attention", "float32", ["batch", "src_time"], "where this step looked (sums to 1 over real tokens)"),
        ],
        example,
    )


def export_plan(t: Any) -> ExportPlan:
    net, vocab = t._ready()
    net.eval()
    L, H = net.L, net.H

    def final_of(b: int) -> tuple[Any, Tensor]:  # an encoder's final state and output for b sentences
        h = torch.zeros(2 * L, b, H)
        return ((h, h) if net.cell == "lstm" else h), torch.zeros(b, 1, 2 * H)

    names, shapes, example_state = _state_ports(net, final_of)
    graphs = [
        _encoder_graph(net, vocab.src_size, names, shapes),
        _step_graph(net, vocab.tgt_size, names, shapes, example_state),
    ]
    meta = {
        "pad": PAD,
        "bos": BOS,
        "eos": EOS,
        "specials": SPECIALS,
        "num_layers": L,
        "hidden_size": H,
        "cell": net.cell,
        "state": names,
        "feed_size": net.A,
        "decoding": to_dict(t.decoding),
    }
    return ExportPlan("translate", graphs, {"vocab": vocab.to_dict()}, meta)
