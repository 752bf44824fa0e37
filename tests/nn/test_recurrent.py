"""lstmkit.nn layers against torch.nn with shared weights: outputs, final states and gradients."""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit import nn as lnn

OURS = {"lstm": lnn.LSTM, "gru": lnn.GRU, "rnn": lnn.RNN}
TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
T, B, I, H = 6, 4, 3, 5


def _pair(cell, backend, **kw):
    ref = TORCH[cell](I, H, **kw)
    ours = OURS[cell](I, H, backend=backend, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _torch_forward(ref, x, lengths, batch_first):
    """Independent truth: torch's module, with PackedSequence for variable lengths."""
    if lengths is None:
        return ref(x)
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, state = ref(packed)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    return out, state


def _flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def _grads(module, x):
    return [x.grad] + [p.grad for _, p in sorted(module.named_parameters())]


GRID = list(
    itertools.product(
        ["lstm", "gru", "rnn"], [1, 2], [False, True], [False, True], [None, [6, 2, 4, 1]], ["fused", "explicit"]
    )
)


@pytest.mark.parametrize("cell,layers,bidir,batch_first,lengths,backend", GRID)
def test_matches_torch(cell, layers, bidir, batch_first, lengths, backend):
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    ref, ours = _pair(cell, backend, **kw)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, st_ref = _torch_forward(ref, x1, lengths, batch_first)
    out, st = ours(x2, lengths=lengths)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(_flat(st), _flat(st_ref)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    weight = torch.randn_like(out_ref)  # a loss that touches every output and the final state
    ((out_ref * weight).sum() + sum(s.sum() for s in _flat(st_ref))).backward()
    ((out * weight).sum() + sum(s.sum() for s in _flat(st))).backward()
    for g, g_ref in zip(_grads(ours, x2), _grads(ref, x1)):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", ["fused", "explicit"])
@pytest.mark.parametrize("lengths", [None, [6, 3, 5, 2]])
def test_projection_matches_torch(backend, lengths):
    ref, ours = _pair("lstm", backend, num_layers=2, bidirectional=True, proj_size=2)
    x = torch.randn(T, B, I)
    h0 = (torch.randn(4, B, 2), torch.randn(4, B, H))
    if lengths is None:
        out_ref, st_ref = ref(x, h0)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out_ref, st_ref = ref(packed, h0)
        out_ref = pad_packed_sequence(out_ref, total_length=T)[0]
    out, st = ours(x, h0, lengths=lengths)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(st, st_ref, atol=1e-5, rtol=1e-5)
    (out.sum() + st[1].sum()).backward()
    (out_ref.sum() + st_ref[1].sum()).backward()
    for (name, p), p_ref in zip(sorted(ours.named_parameters()), [p for _, p in sorted(ref.named_parameters())]):
        torch.testing.assert_close(p.grad, p_ref.grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_dict_loads_both_ways(cell):
    ours = OURS[cell](I, H, num_layers=2, bidirectional=True)
    ref = TORCH[cell](I, H, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])


def test_packed_sequence_in_packed_out():
    ref, ours = _pair("lstm", "explicit", num_layers=2)
    x = torch.randn(T, B, I)
    packed = pack_padded_sequence(x, torch.tensor([3, 6, 2, 6]), enforce_sorted=False)
    (out_ref, st_ref), (out, st) = ref(packed), ours(packed)
    torch.testing.assert_close(out.data, out_ref.data)
    torch.testing.assert_close(out.sorted_indices, out_ref.sorted_indices)
    torch.testing.assert_close(st, st_ref)


def test_unbatched_input():
    ref, ours = _pair("gru", "explicit", num_layers=2)
    x = torch.randn(T, I)
    out_ref, h_ref = ref(x)
    out, h = ours(x)
    assert out.shape == (T, H) and h.shape == (2, H)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(h, h_ref)


def test_padding_gives_zeros_and_leaves_state():
    m = lnn.LSTM(I, H, bidirectional=True, batch_first=True)
    x = torch.randn(2, T, I)
    out, (h, _) = m(x, lengths=[T, 3])
    assert out[1, 3:].abs().max() == 0
    alone, (h_alone, _) = m(x[1:, :3])
    torch.testing.assert_close(out[1, :3], alone[0])
    torch.testing.assert_close(h[:, 1], h_alone[:, 0])


def test_bad_input_is_named():
    m = lnn.LSTM(I, H)
    with pytest.raises(ValueError, match="input_size=3"):
        m(torch.randn(T, B, I + 1))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 6\]"):
        m(torch.randn(T, B, I), lengths=[7, 1, 1, 1])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        m(torch.randn(T, B, I), lengths=[1, 2])
    with pytest.raises(ValueError, match="state c has shape"):
        m(torch.randn(T, B, I), (torch.zeros(1, B, H), torch.zeros(1, B + 1, H)))
    with pytest.raises(ValueError, match="expected input of shape"):
        m(torch.randn(T))
    with pytest.raises(ValueError, match="backend"):
        lnn.LSTM(I, H, backend="magic")
    with pytest.raises(TypeError, match="unknown option.*zonout.*lstmkit variants are"):
        lnn.LSTM(I, H, zonout=0.1)
    with pytest.raises(ValueError, match="explicit backend"):
        lnn.LSTM(I, H, backend="fused", layer_norm=True)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("backend", ["fused", "explicit"])
def test_cpu_autocast_keeps_close_to_fp32(cell, backend):
    """Under bf16 autocast: the fused LSTM and the explicit GRU/RNN loop may use bf16; the fused GRU/RNN
    (no bf16 kernel on CPU) and the hand-written explicit LSTM run in fp32."""
    m = OURS[cell](I, H, num_layers=2, backend=backend)
    x = torch.randn(T, B, I)
    ref, _ = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = m(x, lengths=[6, 3, 5, 2])
        full, _ = m(x)
    torch.testing.assert_close(full.float(), ref, atol=2e-2, rtol=0)
    no_bf16 = not torch.ops.mkldnn._is_mkldnn_bf16_supported()  # no native bf16: the fused LSTM stays fp32
    if (cell == "lstm") == (backend == "explicit") or (cell == "lstm" and no_bf16):
        assert full.dtype == torch.float32
        torch.testing.assert_close(full, ref, atol=1e-5, rtol=1e-5)
    assert out[3:, 1].abs().max() == 0  # padding stays zero under autocast too


@pytest.mark.parametrize("backend", ["fused", "explicit"])
def test_bf16_input_under_autocast_is_accepted_like_torch(backend):
    """Under CPU autocast a bf16 input (e.g. from an autocast Linear) runs, as torch.nn.LSTM lets it; outside
    autocast the dtype mismatch is refused with a message."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(4, 8, batch_first=True)
    ours = lnn.LSTM(4, 8, batch_first=True, backend=backend)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 5, 4).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want, _ = ref(x)
        got, _ = ours(x)
    assert torch.allclose(got.float(), want.float(), atol=3e-2)
    with pytest.raises(TypeError, match="cast one to match"):
        ours(x)
