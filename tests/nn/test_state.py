"""State helpers: detach, select/reorder for beam search, snapshot/restore."""

import torch

from lstmkit import nn as lnn


def test_select_reorders_batch_like_running_the_reordered_batch():
    layer = lnn.LSTM(3, 4, num_layers=2)
    x = torch.randn(5, 3, 3)
    _, state = layer(x)
    order = [2, 0, 0]
    picked = lnn.select_state(state, order)
    _, ref = layer(x[:, order])
    for a, b in zip(picked, ref):
        torch.testing.assert_close(a, b)


def test_snapshot_is_independent_and_restorable():
    layer = lnn.GRU(3, 4)
    h = layer(torch.randn(5, 2, 3))[1]
    snap = lnn.snapshot_state(h)
    live = lnn.restore_state(snap)
    live.zero_()  # working on the restored copy leaves the snapshot intact
    torch.testing.assert_close(snap, h.detach())
    assert not snap.requires_grad


def test_detach_and_initial_state():
    layer = lnn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    h, c = lnn.initial_state(layer, 5)
    assert h.shape == (4, 5, 2) and c.shape == (4, 5, 4)
    _, state = layer(torch.randn(6, 5, 3), (h, c))
    assert all(s.grad_fn is not None for s in state)
    assert all(s.grad_fn is None for s in lnn.detach_state(state))


def test_carried_state_equals_one_pass():
    layer = lnn.LSTM(3, 4, num_layers=2)
    x = torch.randn(10, 2, 3)
    full, _ = layer(x)
    first, state = layer(x[:4])
    second, _ = layer(x[4:], state)
    torch.testing.assert_close(torch.cat([first, second]), full)
