"""Variants: reduce to the plain cell when off, match hand computations when on, pass float64 gradcheck."""

import math

import pytest
import torch
import torch.nn.functional as F

from lstmkit import nn as lnn

T, B, I, H = 5, 3, 2, 4


def _ln_lstm_reference(layer, x):
    """An independent single-layer LN-LSTM written from Ba et al. (2016) with torch.nn.LayerNorm."""
    g = 4 * H
    ln_ih, ln_hh, ln_c = torch.nn.LayerNorm(g), torch.nn.LayerNorm(g), torch.nn.LayerNorm(H)
    with torch.no_grad():
        for ln, part in ((ln_ih, "ih"), (ln_hh, "hh"), (ln_c, "cell")):
            ln.weight.copy_(getattr(layer, f"ln_{part}_weight_l0"))
            ln.bias.copy_(getattr(layer, f"ln_{part}_bias_l0"))
    h, c = torch.zeros(x.shape[1], H), torch.zeros(x.shape[1], H)
    bias = layer.bias_ih_l0 + layer.bias_hh_l0
    outs = []
    for t in range(x.shape[0]):
        z = ln_ih(x[t] @ layer.weight_ih_l0.T) + ln_hh(h @ layer.weight_hh_l0.T) + bias
        i, f, gg, o = z.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        h = torch.sigmoid(o) * torch.tanh(ln_c(c))
        outs.append(h)
    return torch.stack(outs), h, c


def test_layer_norm_matches_hand_reference():
    layer = lnn.LSTM(I, H, layer_norm=True)
    with torch.no_grad():  # non-trivial LN parameters
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):
                p.uniform_(0.5, 1.5)
    x = torch.randn(T, B, I)
    out, (h, c) = layer(x)
    ref_out, ref_h, ref_c = _ln_lstm_reference(layer, x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h[0], ref_h)
    torch.testing.assert_close(c[0], ref_c)


def test_zoneout_eval_is_expected_update():
    p = 0.3
    plain = lnn.LSTM(I, H, backend="explicit")
    zoned = lnn.LSTM(I, H, zoneout=p).eval()
    zoned.load_state_dict(plain.state_dict())
    x = torch.randn(1, B, I)
    h0 = (torch.randn(1, B, H), torch.randn(1, B, H))
    _, (h1, c1) = plain(x, h0)
    _, (hz, cz) = zoned(x, h0)
    torch.testing.assert_close(hz, p * h0[0] + (1 - p) * h1)
    torch.testing.assert_close(cz, p * h0[1] + (1 - p) * c1)


def test_zoneout_train_keeps_or_updates_each_unit():
    zoned = lnn.GRU(I, H, zoneout=0.5).train()
    plain = lnn.GRU(I, H)
    plain.load_state_dict(zoned.state_dict())
    x, h0 = torch.randn(1, B, I), torch.randn(1, B, H)
    hz = zoned(x, h0)[1]
    h1 = plain(x, h0)[1]
    kept, updated = torch.isclose(hz, h0), torch.isclose(hz, h1)
    assert bool((kept | updated).all()) and kept.any() and updated.any()


@pytest.mark.parametrize("cell", [lnn.LSTM, lnn.GRU, lnn.RNN])
def test_variants_off_or_eval_reduce_to_plain(cell):
    kw = dict(num_layers=2, bidirectional=True)
    plain = cell(I, H, **kw)
    dressed = cell(
        I, H, input_dropout=0.3, hidden_dropout=0.3, output_dropout=0.3, weight_drop=0.5, zoneout=0.0, **kw
    ).eval()
    dressed.load_state_dict(plain.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(dressed(x)[0], plain(x)[0])


def test_locked_dropout_mask_is_shared_across_time():
    layer = lnn.GRU(I, H, output_dropout=0.5).train()
    out, _ = layer(torch.randn(T, B, I))
    zero = out == 0  # (T, B, H)
    assert zero.any()
    assert bool((zero == zero[0]).all()), "the same units must be dropped at every step"


def test_weight_drop_keeps_parameters_and_drops_recurrent_weights():
    layer = lnn.LSTM(I, H, weight_drop=0.5).train()
    names = [n for n, _ in layer.named_parameters()]
    before = layer.weight_hh_l0.detach().clone()
    x = torch.randn(T, B, I)
    out_train = layer(x)[0]
    out_train.sum().backward()
    assert [n for n, _ in layer.named_parameters()] == names
    assert layer.weight_hh_l0.grad is not None and layer.weight_hh_l0.grad.abs().sum() > 0
    torch.testing.assert_close(layer.weight_hh_l0.detach(), before)
    # the fused result equals torch's LSTM run with the same dropped weight matrix
    torch.manual_seed(1)
    out_a = layer(x)[0]
    torch.manual_seed(1)
    dropped = F.dropout(layer.weight_hh_l0, 0.5, training=True)
    ref = torch.nn.LSTM(I, H)
    ref.load_state_dict({**layer.state_dict(), "weight_hh_l0": dropped.detach()})
    torch.testing.assert_close(out_a, ref(x)[0])


def test_forget_bias_and_chrono_init():
    layer = lnn.LSTM(I, H, num_layers=2, forget_bias=1.0)
    for k in range(2):
        total = getattr(layer, f"bias_ih_l{k}") + getattr(layer, f"bias_hh_l{k}")
        torch.testing.assert_close(total[H : 2 * H], torch.ones(H))
    chrono = lnn.LSTM(I, H, chrono_init=100)
    b_f = chrono.bias_ih_l0[H : 2 * H] + chrono.bias_hh_l0[H : 2 * H]
    b_i = chrono.bias_ih_l0[:H] + chrono.bias_hh_l0[:H]
    assert bool((b_f >= 0).all() and (b_f <= torch.log(torch.tensor(99.0))).all())
    torch.testing.assert_close(b_i, -b_f)
    default = lnn.LSTM(I, H)  # drop-in layers keep torch's uniform init
    assert not torch.allclose(default.bias_ih_l0[H : 2 * H], torch.zeros(H) + default.bias_ih_l0[H])
    with pytest.raises(ValueError, match="LSTM only"):
        lnn.GRU(I, H, forget_bias=1.0)


def test_gru_chrono_init_opens_the_update_gate_by_hand():
    """GRU chrono: the update gate z (torch keeps z * h_prev) starts at sigmoid(log U(1, T_max - 1)).
    With zero weights, x = 0 and h0 = 0 the first step is h1 = (1 - z) * tanh(b_in + r * b_hn), r = sigmoid(b_r)."""
    gru = lnn.GRU(I, H, chrono_init=100)
    b = gru.bias_ih_l0 + gru.bias_hh_l0  # (3H,) gate order r, z, n
    b_r, b_z = b[:H], b[H : 2 * H]
    assert bool((b_z >= 0).all() and (b_z <= torch.log(torch.tensor(99.0))).all()) and b_z.std() > 0
    torch.testing.assert_close(b_r, torch.zeros(H))
    with torch.no_grad():
        gru.weight_ih_l0.zero_()
        gru.weight_hh_l0.zero_()
        h1, _ = gru(torch.zeros(1, 1, I))  # (T, B, H) = (1, 1, H)
    r, z = torch.sigmoid(b_r), torch.sigmoid(b_z)
    n = torch.tanh(gru.bias_ih_l0[2 * H :] + r * gru.bias_hh_l0[2 * H :])
    torch.testing.assert_close(h1[0, 0], ((1 - z) * n).detach())
    with pytest.raises(ValueError, match="needs a gate"):
        lnn.RNN(I, H, chrono_init=100)


VARIANTS = [
    dict(layer_norm=True),
    dict(zoneout=0.2),
    dict(input_dropout=0.2, hidden_dropout=0.2, output_dropout=0.2),
    dict(weight_drop=0.3),
    dict(chrono_init=10),
    dict(layer_norm=True, zoneout=0.2, weight_drop=0.3, proj_size=2),
]


@pytest.mark.parametrize("kw", VARIANTS)
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("backend", ["auto", "explicit"])
def test_gradcheck_float64(kw, training, backend):
    layer = lnn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=torch.float64, backend=backend, **kw)
    layer.train(training)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)

    def fn(x):
        with torch.random.fork_rng():  # the same dropout/zoneout masks at every evaluation
            torch.manual_seed(0)
            out, (h, c) = layer(x, lengths=[4, 2])
        return out, h, c

    assert torch.autograd.gradcheck(fn, (x,))


@pytest.mark.parametrize("lengths", [None, [5, 2, 4]])
def test_gradcheck_hand_written_lstm_weights(lengths):
    """The explicit LSTM's own backward, for inputs, initial state and every weight."""
    layer = lnn.LSTM(2, 3, bidirectional=True, dtype=torch.float64, backend="explicit")
    x = torch.randn(5, 3, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def fn(x, h0, c0, *ws):
        out, (h, c) = torch.func.functional_call(layer, dict(zip(names, ws)), (x, (h0, c0)), {"lengths": lengths})
        return out, h, c

    assert torch.autograd.gradcheck(fn, (x, h0, c0, *params))


@pytest.mark.parametrize("cell", [lnn.GRU, lnn.RNN])
def test_gradcheck_float64_gru_rnn(cell):
    layer = cell(2, 3, num_layers=2, zoneout=0.2, input_dropout=0.1, weight_drop=0.2, dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)

    def fn(x):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return layer(x)

    assert torch.autograd.gradcheck(fn, (x,))


@pytest.mark.parametrize("cls", [lnn.LSTM, lnn.GRU])
def test_reset_parameters_keeps_chrono_init(cls):
    """torch re-draws the biases uniformly in reset_parameters; lstmkit's layers re-apply their variants."""
    T, H = 50, 16
    m = cls(3, H, chrono_init=T)
    torch.manual_seed(1)
    m.reset_parameters()
    keep = (m.bias_ih_l0 + m.bias_hh_l0).detach()[H : 2 * H]  # LSTM forget / GRU update gate
    assert bool((keep >= 0).all()) and bool((keep <= math.log(T - 1) + 1e-6).all()) and keep.std() > 0.3
    plain = torch.nn.GRU(3, H) if cls is lnn.GRU else torch.nn.LSTM(3, H)
    assert float((plain.bias_ih_l0 + plain.bias_hh_l0)[H : 2 * H].abs().max()) < 2 / math.sqrt(H)  # torch's own
