"""Gradient flow against a hand computation, and the vanishing gradient it should show."""

import torch

from lstmkit import nn as lnn
from lstmkit.inspect.gradients import gradient_flow, plot_gradient_flow


def test_rnn_gradient_flow_equals_the_chain_rule_by_hand():
    """h_t = tanh(w x_t + u h_{t-1} + b); L = h_T, so dL/dh_t = prod_{k>t} u (1 - h_k^2)."""
    layer = lnn.RNN(1, 1, dtype=torch.float64)
    x = torch.randn(6, 1, 1, dtype=torch.float64)
    flow = gradient_flow(layer, x, lambda out: out[-1].sum())
    u = float(layer.weight_hh_l0)
    h, hs = torch.zeros((), dtype=torch.float64), []
    with torch.no_grad():
        for t in range(6):
            h = torch.tanh(layer.weight_ih_l0[0, 0] * x[t, 0, 0] + u * h + layer.bias_ih_l0[0] + layer.bias_hh_l0[0])
            hs.append(float(h))
    expected = [1.0]
    for k in range(5, 0, -1):
        expected.append(expected[-1] * abs(u * (1 - hs[k] ** 2)))
    torch.testing.assert_close(flow.by_distance(), torch.tensor(expected, dtype=torch.float64))


def test_flow_matches_autograd_on_a_two_layer_lstm():
    layer = lnn.LSTM(2, 3, num_layers=2, dtype=torch.float64)
    x = torch.randn(5, 4, 2, dtype=torch.float64)
    flow = gradient_flow(layer, x, lambda out: out.pow(2).sum())
    # autograd reference: hidden states of layer 1 recomputed step by step with torch.nn.LSTMCell
    cell = torch.nn.LSTMCell(3, 3, dtype=torch.float64)
    cell.load_state_dict({k.replace("_l1", ""): v for k, v in layer.state_dict().items() if k.endswith("_l1")})
    below = torch.nn.LSTM(2, 3, dtype=torch.float64)
    below.load_state_dict({k: v for k, v in layer.state_dict().items() if k.endswith("_l0")})
    inp = below(x)[0].detach()
    h = c = torch.zeros(4, 3, dtype=torch.float64)
    hs = []
    for t in range(5):
        h, c = cell(inp[t], (h, c))
        hs.append(h)
    grads = torch.autograd.grad(torch.stack(hs).pow(2).sum(), hs)
    torch.testing.assert_close(flow.norms[1, 0], torch.stack([g.norm(dim=-1).mean() for g in grads]))


def test_rnn_forgets_where_lstm_remembers(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(200, 8, 4)
    flows = {}
    for name, layer in (("rnn", lnn.RNN(4, 32)), ("lstm", lnn.LSTM(4, 32, forget_bias=3.0))):
        flows[name] = gradient_flow(layer, x, lambda out: out[-1].sum())
    assert flows["rnn"].horizon() is not None and flows["rnn"].horizon() < 100
    assert flows["lstm"].by_distance()[100] > 100 * flows["rnn"].by_distance()[100]
    png = plot_gradient_flow(flows, tmp_path / "flow.png")
    assert png.stat().st_size > 10_000
