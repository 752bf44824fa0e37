"""The modern cells against independent truth: the recurrence written out step by step (unstabilised where the
numbers allow), the three mLSTM forms against each other, streaming one step at a time against one call,
padded batches against each sequence alone, the backward direction against the reversed sequence, finite
values at pre-activations of +-50, and float64 gradcheck."""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit.nn import MinState, MLSTMState, SLSTMState, minGRU, minLSTM, mLSTM, sLSTM

CELLS = {"slstm": sLSTM, "mlstm": mLSTM, "minlstm": minLSTM, "mingru": minGRU}


def make(name: str, i: int = 3, h: int = 8, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return CELLS[name](i, h, batch_first=True, **kw).double()


def random_state(layer, B: int):
    """A non-zero state the layer could have produced (positive normalisers, finite stabilisers)."""
    s = layer.initial_state(B, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    out = []
    for name, t in zip(type(s)._fields, s):
        r = torch.rand(t.shape, generator=g, dtype=torch.float64)
        out.append(r + 1.0 if name == "n" and isinstance(s, SLSTMState) else r - 0.5 if name != "m" else r)
    return type(s)(*out)


@pytest.mark.parametrize("scan", ["log", "sequential"])
@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_scan_equals_the_recurrence_written_out(name, scan):
    layer = make(name, scan=scan)
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    h0 = torch.randn(1, 2, 8, dtype=torch.float64)  # any sign: the scan keeps h0's term apart
    y, s = layer(x, MinState(h0))
    state, steps = MinState(h0[0]), []
    for t in range(9):
        h, state = layer.cells[0].step(x[:, t], state)
        steps.append(h)
    torch.testing.assert_close(y, torch.stack(steps, 1), rtol=0, atol=1e-10)
    torch.testing.assert_close(s.h[0], state.h, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_scans_agree_in_value_and_gradient_with_lengths_and_a_state(name):
    """The log-space parallel scan and the sequential one (the CPU default) are two forms of one function."""
    x = torch.randn(3, 11, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, 8, dtype=torch.float64)
    lengths = torch.tensor([11, 4, 7])
    outs = []
    for scan in ("log", "sequential"):
        layer = make(name, num_layers=2, scan=scan)
        y, s = layer(x, MinState(h0), lengths=lengths)
        grads = torch.autograd.grad(y.square().sum() + s.h.sum(), [x, *layer.parameters()])
        outs.append((y, s.h, grads))
    (y1, s1, g1), (y2, s2, g2) = outs
    torch.testing.assert_close(y1, y2, rtol=0, atol=1e-10)
    torch.testing.assert_close(s1, s2, rtol=0, atol=1e-10)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_min_scan_must_be_known():
    with pytest.raises(ValueError, match="scan must be one of"):
        minGRU(3, 4, scan="fast")


def test_min_gru_is_a_convex_mix_of_the_state_and_g():
    """By hand for one step: h = (1 - z) h0 + z g(x~), z = sigmoid(k)."""
    layer = make("mingru", 1, 1)
    w, b = layer.cells[0].proj.weight.detach()[:, 0], layer.cells[0].proj.bias.detach()
    x, h0 = 0.7, 0.3
    k, xh = w[0] * x + b[0], w[1] * x + b[1]
    z = 1 / (1 + math.exp(-k))
    g = xh + 0.5 if xh >= 0 else 1 / (1 + math.exp(-xh))
    y, _ = layer(torch.tensor([[[x]]], dtype=torch.float64), MinState(torch.tensor([[[h0]]], dtype=torch.float64)))
    assert float(y.detach()) == pytest.approx((1 - z) * h0 + z * g, abs=1e-12)


def _block_recurrent(cell, h):
    """R h head by head: head k's d units of h times its own (d, 4d) block [i f z o] -> (B, 4, H)."""
    NH, d, _ = cell.weight_hh.shape
    out = torch.zeros(h.shape[0], 4, NH * d, dtype=h.dtype)
    for k in range(NH):
        out[:, :, k * d : (k + 1) * d] = (h[:, k * d : (k + 1) * d] @ cell.weight_hh[k]).view(-1, 4, d)
    return out


def _unstabilised_slstm(layer, x, h0, c0, n0):
    """The sLSTM recurrence without the stabiliser (fine for moderate pre-activations)."""
    cell = layer.cells[0]
    H = cell.hidden_size
    h, c, n, ys = h0, c0, n0, []
    for t in range(x.shape[1]):
        pre = (x[:, t] @ cell.weight_ih.T + cell.bias).view(-1, 4, H) + _block_recurrent(cell, h)
        i, f, z, o = torch.exp(pre[:, 0]), torch.exp(pre[:, 1]), torch.tanh(pre[:, 2]), torch.sigmoid(pre[:, 3])
        c, n = f * c + i * z, f * n + i
        h = o * c / n
        ys.append(h)
    return torch.stack(ys, 1), h, c, n


def test_slstm_equals_the_unstabilised_recurrence():
    layer = make("slstm", num_heads=2)
    with torch.no_grad():
        layer.cells[0].bias.zero_()  # moderate pre-activations: exp() stays in range without m
    x = 0.5 * torch.randn(2, 7, 3, dtype=torch.float64)
    y, s = layer(x)
    zero = torch.zeros(2, 8, dtype=torch.float64)
    want, _, c, n = _unstabilised_slstm(layer, x, zero, zero, zero)
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(s.c[0] / s.n[0], c / n, rtol=1e-10, atol=1e-12)  # c and n carry exp(-m) each
    torch.testing.assert_close(s.c[0] * torch.exp(s.m[0]), c, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("forget", ["exp", "sigmoid"])
def test_slstm_sequence_form_has_the_step_by_step_gradients(forget):
    """The sequence form (its own backward, nn/slstm_function.py) against the recurrence fed one step at a time
    through autograd, each sequence alone: values and gradients for x, the weights and the initial state, with a
    loss on the outputs and on every field of the final state (the stabiliser's gradient is carried, not dropped)."""
    layer = make("slstm", num_layers=2, num_heads=2, forget=forget)
    x = torch.randn(3, 7, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 4, 2])
    state0 = SLSTMState(*(t.requires_grad_() for t in random_state(layer, 3)))
    w = torch.randn(3, 7, 8, dtype=torch.float64)
    weights = [torch.randn(2, 3, 8, dtype=torch.float64) for _ in range(4)]

    def state_loss(s, rows):
        return sum((f[:, rows] * v).sum() for f, v in zip(weights, s))

    y, s = layer(x, state0, lengths=lengths)
    inputs = [x, *state0, *layer.parameters()]
    want = torch.autograd.grad((y * w).sum() + state_loss(s, slice(None)), inputs)
    total = 0.0
    for b, n in enumerate(lengths.tolist()):
        state = SLSTMState(*(v[:, b : b + 1] for v in state0))
        steps = []
        for t in range(n):
            out, state = layer(x[b : b + 1, t : t + 1], state)
            steps.append(out)
        alone = torch.cat(steps, 1)  # (1, n, H)
        torch.testing.assert_close(y[b : b + 1, :n], alone, rtol=0, atol=1e-10)
        total = total + (alone * w[b : b + 1, :n]).sum() + state_loss(state, slice(b, b + 1))
    got = torch.autograd.grad(total, inputs)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_slstm_sigmoid_forget_keeps_the_stabiliser_bounded_over_a_long_stream():
    """With the exponential forget gate and f~ > 0 (the forget bias starts at 3-6) the stabiliser climbs by f~
    a step, so the input's share exp(i~ - m) falls to 0 over a long carried stream; log sigmoid(f~) <= 0 keeps
    m near the input gate's scale."""
    torch.manual_seed(0)
    x = torch.randn(1, 400, 3)
    m_max = {}
    for forget in ("exp", "sigmoid"):
        layer = sLSTM(3, 8, batch_first=True, forget=forget)
        state = None
        for chunk in x.split(100, 1):  # carried across calls, as a language model carries it
            _, state = layer(chunk, state)
        m_max[forget] = state.m.abs().max().item()
    assert m_max["exp"] > 1000  # 400 steps x a forget bias of at least 3
    assert m_max["sigmoid"] < 10


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_mlstm_forms_agree_with_lengths_and_an_initial_state(chunk):
    x = torch.randn(3, 10, 3, dtype=torch.float64)
    lengths = torch.tensor([10, 4, 7])
    outs = {}
    for form in ("recurrent", "parallel", "chunkwise"):
        layer = make("mlstm", form=form, chunk_size=chunk)
        outs[form] = layer(x, random_state(layer, 3), lengths=lengths)
    for form in ("parallel", "chunkwise"):
        torch.testing.assert_close(outs[form][0], outs["recurrent"][0], rtol=0, atol=1e-10)
        s, r = outs[form][1], outs["recurrent"][1]  # the stabiliser may differ, the state it scales may not
        torch.testing.assert_close(s.C * torch.exp(s.m)[..., None, None], r.C * torch.exp(r.m)[..., None, None])
        torch.testing.assert_close(s.n * torch.exp(s.m)[..., None], r.n * torch.exp(r.m)[..., None])


def test_mlstm_float32_forms_agree():
    torch.manual_seed(1)
    x = torch.randn(2, 40, 3)
    layer = mLSTM(3, 8, batch_first=True, chunk_size=16)
    ys = []
    for form in ("recurrent", "parallel", "chunkwise"):
        layer.cells[0].form = form
        ys.append(layer(x)[0])
    for layer_y in ys[1:]:
        torch.testing.assert_close(layer_y, ys[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_streaming_one_step_at_a_time_equals_one_call(name):
    layer = make(name, num_layers=2)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    y, final = layer(x)
    state, steps = None, []
    for t in range(6):
        out, state = layer(x[:, t : t + 1], state)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), y, rtol=0, atol=1e-10)
    for a, b in zip(state, final):
        if name == "mlstm":  # compare the state up to its stabiliser
            continue
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_padded_batches_equal_each_sequence_alone(name):
    layer = make(name, num_layers=2, bidirectional=True)
    x = torch.randn(3, 8, 3, dtype=torch.float64)
    lengths = torch.tensor([8, 3, 5])
    y, state = layer(x, lengths=lengths)
    assert y.shape == (3, 8, 16) and bool((y[1, 3:] == 0).all())
    for b, n in enumerate(lengths.tolist()):
        alone, s_alone = layer(x[b : b + 1, :n])
        torch.testing.assert_close(y[b : b + 1, :n], alone, rtol=0, atol=1e-10)
        if name != "mlstm":
            for a, c in zip(state, s_alone):
                torch.testing.assert_close(a[:, b : b + 1], c, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_the_backward_direction_reads_the_reversed_sequence(name):
    layer = make(name, bidirectional=True)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    y, _ = layer(x)
    back = layer.cells[1](x.flip(1), None, None, False)[0].flip(1)
    torch.testing.assert_close(y[..., 8:], back, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_large_pre_activations_stay_finite(name):
    layer = make(name, 4, 8).float()
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(50.0)
    x = torch.randn(2, 30, 4) * 50
    x.requires_grad_(True)
    y, state = layer(x)
    assert torch.isfinite(y).all() and all(torch.isfinite(s).all() for s in state)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradcheck_float64(name):
    layer = make(name, 2, 4)  # the min cells' default scan on CPU: the sequential one with its own backward
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: layer(inp)[0], (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_drop_in_like_torch_nn(name):
    layer = CELLS[name](5, 12, batch_first=True)
    y, state = layer(torch.randn(4, 7, 5))
    assert y.shape == (4, 7, 12) and isinstance(state, (SLSTMState, MLSTMState, MinState))
    y2, _ = layer(torch.randn(4, 3, 5), state)
    assert y2.shape == (4, 3, 12)
    seq_first = CELLS[name](5, 12, num_layers=2)
    assert seq_first(torch.randn(7, 4, 5))[0].shape == (7, 4, 12)
    assert seq_first(torch.randn(7, 5))[0].shape == (7, 12)  # unbatched
    with pytest.raises(ValueError, match="expected input"):
        layer(torch.randn(4, 7, 6))
    with pytest.raises(ValueError, match="lengths"):
        layer(torch.randn(4, 7, 5), lengths=torch.tensor([7, 0, 3, 2]))


# ---- the reference implementations, where they install with our pins (pip install xlstm mingru-pytorch)


def test_slstm_matches_the_xlstm_packages_vanilla_cell():
    vanilla = pytest.importorskip("xlstm.blocks.slstm.src.vanilla", reason="the xlstm package is not installed")
    from xlstm.blocks.slstm.src.vanilla.slstm import slstm_forward_pointwise

    layer = make("slstm", 3, 8, num_heads=2, forget="sigmoid")
    cell = layer.cells[0]
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    y, s = layer(x)
    wx = (x @ cell.weight_ih.T).transpose(0, 1)  # (T, B, 4H), gates i, f, z, o as in xlstm
    zero = torch.zeros(4, 2, 8, dtype=torch.float64)
    R = cell.weight_hh.transpose(1, 2)  # (NH, 4d, d)
    states_all, last, _ = vanilla.slstm_forward(wx, zero, R, cell.bias, slstm_forward_pointwise)
    torch.testing.assert_close(y, states_all[0, 1:].transpose(0, 1), rtol=0, atol=1e-12)
    for mine, theirs in zip(s, last):
        torch.testing.assert_close(mine[0], theirs, rtol=0, atol=1e-12)


def test_mlstm_parallel_form_matches_the_xlstm_packages():
    backends = pytest.importorskip("xlstm.blocks.mlstm.backends", reason="the xlstm package is not installed")
    from lstmkit.nn.mlstm import Memory, parallel

    torch.manual_seed(0)
    B, NH, T, d = 2, 3, 9, 4
    q, k, v = (torch.randn(B, NH, T, d, dtype=torch.float64) for _ in range(3))
    i_raw, f_raw = torch.randn(B, NH, T, dtype=torch.float64), torch.randn(B, NH, T, dtype=torch.float64) + 2
    want = backends.parallel_stabilized_simple(q, k, v, i_raw[..., None], f_raw[..., None], eps=0.0)
    zero = Memory(
        torch.zeros(B, NH, d, d, dtype=torch.float64),
        torch.zeros(B, NH, d, dtype=torch.float64),
        torch.zeros(B, NH, dtype=torch.float64),
    )
    got, _, _ = parallel(q, k / d**0.5, v, i_raw, torch.nn.functional.logsigmoid(f_raw), zero)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_mingru_matches_mingru_pytorch():
    ref = pytest.importorskip("minGRU_pytorch", reason="the mingru-pytorch package is not installed")
    torch.manual_seed(0)
    theirs = ref.minGRU(6).double()
    layer = minGRU(6, 6, bias=False, batch_first=True).double()
    hidden_w, gate_w = theirs.to_hidden_and_gate.weight.detach().chunk(2, 0)
    with torch.no_grad():
        layer.cells[0].proj.weight.copy_(torch.cat([gate_w, hidden_w]))  # ours: [gate; candidate]
    x = torch.randn(2, 11, 6, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], theirs(x), rtol=1e-10, atol=1e-12)
    h0 = torch.rand(2, 1, 6, dtype=torch.float64) + 0.1  # theirs needs a positive state (it takes its log)
    torch.testing.assert_close(layer(x, MinState(h0.transpose(0, 1)))[0], theirs(x, h0), rtol=1e-10, atol=1e-12)


def test_minlstm_matches_mingru_pytorch():
    ref = pytest.importorskip("minGRU_pytorch.minLSTM", reason="the mingru-pytorch package is not installed")
    torch.manual_seed(0)
    theirs = ref.minLSTM(6).double()
    layer = minLSTM(6, 6, bias=False, batch_first=True).double()
    hidden_w, f_w, i_w = theirs.to_hidden_and_f_i_gate.weight.detach().chunk(3, 0)
    with torch.no_grad():
        layer.cells[0].proj.weight.copy_(torch.cat([f_w, i_w, hidden_w]))  # ours: [forget; input; candidate]
    x = torch.randn(2, 11, 6, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], theirs(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_bf16_autocast_stays_close_to_float32(name):
    """Under CPU bf16 autocast (the tasks' default precision where the CPU has bf16) each cell's output and
    weight gradients stay within bf16 rounding of the float32 ones (the sLSTM: bf16 step GEMMs, fp32 state)."""
    torch.manual_seed(0)
    layer = CELLS[name](6, 16, batch_first=True)
    x = torch.randn(4, 20, 6)
    lengths = torch.tensor([20, 13, 7, 1])
    outs = []
    for enabled in (False, True):
        layer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            y, _ = layer(x, lengths=lengths)
        y.float().square().sum().backward()
        outs.append((y.float().detach(), [p.grad.clone() for p in layer.parameters()]))
    (y32, g32), (y16, g16) = outs
    torch.testing.assert_close(y16, y32, rtol=0, atol=0.05)
    for a, b in zip(g16, g32):
        assert torch.isfinite(a).all()
        assert (a - b).norm() <= 0.1 * b.norm() + 1e-3
