"""Gate traces and gradient flow of the modern cells: every traced value has its place and shape, traced gates
recompute the output by the cells' own formulas, and minGRU's gradient flow equals the product of its
retention gates (1 - z) worked out by hand."""

from __future__ import annotations

import pytest
import torch

from lstmkit.inspect.gradients import gradient_flow
from lstmkit.inspect.trace import gate_means, trace
from lstmkit.nn import minGRU, minLSTM, mLSTM, sLSTM
from lstmkit.nn.explicit import TRACE_NAMES

CELLS = {"slstm": sLSTM, "mlstm": mLSTM, "minlstm": minLSTM, "mingru": minGRU}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_every_gate_is_traced_with_its_shape(name):
    torch.manual_seed(0)
    layer = CELLS[name](3, 8, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(2, 5, 3)
    tr = trace(layer, x, lengths=torch.tensor([5, 3]))
    assert tr.kind == name and set(tr.values) == set(TRACE_NAMES[name])
    for n, v in tr.values.items():
        assert v.shape[:4] == (2, 2, 2, 5), n
        assert bool((v[:, :, 1, 3:] == 0).all()), f"{n} is zero past the length"
    torch.testing.assert_close(tr.layer_output, layer(x, lengths=torch.tensor([5, 3]))[0])
    assert set(gate_means(tr)) >= {"gate_forget_l0"} or name == "mingru"


def test_traced_slstm_gates_rebuild_the_output():
    torch.manual_seed(0)
    layer = sLSTM(3, 4, batch_first=True)
    tr = trace(layer, torch.randn(1, 6, 3))
    c = torch.zeros(1, 4)  # c_t = f' c_{t-1} + i' z, n_t = f' n_{t-1} + i', h = o c / n
    n = c.clone()
    for t in range(6):
        c = tr.forget[0, 0, :, t] * c + tr.input[0, 0, :, t] * tr.candidate[0, 0, :, t]
        n = tr.forget[0, 0, :, t] * n + tr.input[0, 0, :, t]
        torch.testing.assert_close(tr.output[0, 0, :, t] * c / n, tr.hidden[0, 0, :, t])


def test_mingru_gradient_flow_is_the_product_of_its_retention_gates():
    torch.manual_seed(0)
    layer = minGRU(2, 1, batch_first=True).double()
    x = torch.randn(1, 8, 2, dtype=torch.float64)
    flow = gradient_flow(layer, x, lambda out: out[0, -1, 0])  # the loss is h_T itself
    z = trace(layer, x).update[0, 0, 0, :, 0]  # (T,)
    keep = 1 - z
    want = torch.stack([keep[t + 1 :].prod() for t in range(8)])  # dh_T/dh_t = prod_{k > t} (1 - z_k)
    torch.testing.assert_close(flow.last_layer(), want)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradient_flow_reaches_every_step(name):
    torch.manual_seed(0)
    layer = CELLS[name](3, 8, batch_first=True)
    flow = gradient_flow(layer, torch.randn(2, 12, 3), lambda out: out[:, -1].pow(2).sum())
    assert flow.norms.shape == (1, 1, 12) and bool((flow.norms > 0).all())
