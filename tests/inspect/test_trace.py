"""Gate traces equal a hand computation from the weights."""

import pytest
import torch

from lstmkit import nn as lnn
from lstmkit.inspect import trace


def test_lstm_trace_matches_hand_computation():
    layer = lnn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(2, 4, 2)
    tr = trace(layer, x)
    for name in ("input", "forget", "candidate", "output", "cell", "hidden"):
        assert tr[name].shape == (2, 2, 2, 4, 3)
    # layer 0, forward direction, by hand
    W, U, b = layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0 + layer.bias_hh_l0
    h, c = torch.zeros(2, 3), torch.zeros(2, 3)
    for t in range(4):
        z = x[:, t] @ W.T + h @ U.T + b
        i, f, g, o = torch.sigmoid(z[:, :3]), torch.sigmoid(z[:, 3:6]), torch.tanh(z[:, 6:9]), torch.sigmoid(z[:, 9:])
        c = f * c + i * g
        h = o * torch.tanh(c)
        for name, val in (("input", i), ("forget", f), ("candidate", g), ("output", o), ("cell", c), ("hidden", h)):
            torch.testing.assert_close(tr[name][0, 0, :, t], val)
    # the traced last layer's hidden states are the layer's output
    out = layer(x)[0]
    torch.testing.assert_close(tr.hidden[1, 0], out[..., :3])
    torch.testing.assert_close(tr.hidden[1, 1], out[..., 3:])


def test_gru_trace_matches_hand_computation_with_lengths():
    layer = lnn.GRU(2, 3)
    x = torch.randn(4, 2, 2)
    tr = trace(layer, x, lengths=[4, 2])
    Wr, Wz, Wn = layer.weight_ih_l0.chunk(3)
    Ur, Uz, Un = layer.weight_hh_l0.chunk(3)
    bir, biz, bin_ = layer.bias_ih_l0.chunk(3)
    bhr, bhz, bhn = layer.bias_hh_l0.chunk(3)
    h = torch.zeros(2, 3)
    for t in range(4):
        r = torch.sigmoid(x[t] @ Wr.T + bir + h @ Ur.T + bhr)
        z = torch.sigmoid(x[t] @ Wz.T + biz + h @ Uz.T + bhz)
        n = torch.tanh(x[t] @ Wn.T + bin_ + r * (h @ Un.T + bhn))
        h = (1 - z) * n + z * h
        for name, val in (("reset", r), ("update", z), ("candidate", n), ("hidden", h)):
            torch.testing.assert_close(tr[name][0, 0, 0, t], val[0])
    assert tr.hidden[0, 0, 1, 2:].abs().max() == 0  # padded steps are zero


def test_trace_rejects_unknown_names_and_layers():
    tr = trace(lnn.RNN(2, 3), torch.randn(3, 1, 2))
    with pytest.raises(KeyError, match="rnn traces hidden"):
        tr["forget"]
    with pytest.raises(TypeError, match="lstmkit.nn"):
        trace(torch.nn.LSTM(2, 3), torch.randn(3, 1, 2))


def test_gate_means_ignore_padding():
    from lstmkit.inspect import gate_means

    layer = lnn.LSTM(2, 3, num_layers=2)
    x = torch.randn(2, 5, 2)
    lengths = torch.tensor([5, 2])
    tr = trace(layer, x.transpose(0, 1), lengths=lengths)
    means = gate_means(tr, lengths)
    assert set(means) == {"gate_input_l0", "gate_forget_l0", "gate_input_l1", "gate_forget_l1"}
    f = tr.forget[0, 0]  # (B, T, H)
    by_hand = torch.cat([f[0, :5], f[1, :2]]).mean()
    torch.testing.assert_close(means["gate_forget_l0"], by_hand)
    assert gate_means(trace(lnn.RNN(2, 3), x)) == {}


def test_every_traced_name_is_an_attribute_and_the_kind_is_separate():
    from lstmkit import nn as lnn
    from lstmkit.inspect.trace import trace as run_trace

    x = torch.randn(3, 5, 4)
    tr = run_trace(lnn.LSTM(4, 6, batch_first=True), x)
    assert tr.kind == "lstm"
    for name in tr.names:
        assert torch.equal(getattr(tr, name), tr[name])
    assert tr.cell.shape == (1, 1, 3, 5, 6)  # the cell state, not the cell kind
    gru = run_trace(lnn.GRU(4, 6, batch_first=True), x)
    with pytest.raises(AttributeError, match="has no 'cell'"):
        _ = gru.cell
