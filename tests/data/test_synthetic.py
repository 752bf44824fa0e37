"""Generated long-range tasks: labels checked by hand on small cases."""

import torch

from lstmkit.data import synthetic


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_adding_labels_by_hand():
    b = synthetic.adding(50, 12, _gen(3))
    x, y = b["x"], b["y"]
    assert x.shape == (50, 12, 2) and y.shape == (50, 1)
    for k in range(50):
        marks = x[k, :, 1].nonzero().flatten().tolist()
        assert len(marks) == 2 and marks[0] < 6 <= marks[1], "one mark in each half"
        assert abs(float(y[k, 0]) - (float(x[k, marks[0], 0]) + float(x[k, marks[1], 0]))) < 1e-6


def test_copy_memory_repeats_the_first_symbols_after_the_delimiter():
    T = 7
    b = synthetic.copy_memory(20, T, _gen())
    tokens = b["x"].argmax(-1)  # (n, T + 20)
    assert b["x"].shape == (20, T + 20, 10) and b["y"].shape == (20, T + 20)
    for k in range(20):
        first = tokens[k, :10]
        assert bool(((first >= 1) & (first <= 8)).all())
        assert tokens[k, 10 : T + 9].eq(0).all(), "blanks during the delay"
        assert tokens[k, T + 9] == 9, "the delimiter 10 steps before the end"
        assert tokens[k, T + 10 :].eq(0).all()
        assert torch.equal(b["y"][k, -10:], first) and b["y"][k, :-10].eq(0).all()


def test_temporal_order_class_is_the_order_of_x_and_y():
    T = 40
    b = synthetic.temporal_order(200, T, _gen())
    tokens = b["x"].argmax(-1)
    for k in range(200):
        pos = ((tokens[k] == synthetic.X_SYM) | (tokens[k] == synthetic.Y_SYM)).nonzero().flatten().tolist()
        assert len(pos) == 2 and 4 <= pos[0] < 8 and 20 <= pos[1] < 24
        first_y, second_y = int(tokens[k, pos[0]] == synthetic.Y_SYM), int(tokens[k, pos[1]] == synthetic.Y_SYM)
        assert int(b["y"][k]) == 2 * first_y + second_y
        assert tokens[k, 0] == synthetic.B_SYM and tokens[k, -1] == synthetic.E_SYM
    assert set(b["y"].tolist()) == {0, 1, 2, 3}


def _walk_reber(symbols):
    """Accept an inner Reber string by walking the grammar from the textbook figure."""
    graph = {
        (1, "T"): 2,
        (1, "P"): 3,
        (2, "S"): 2,
        (2, "X"): 4,
        (3, "T"): 3,
        (3, "V"): 5,
        (4, "X"): 3,
        (4, "S"): 6,
        (5, "P"): 4,
        (5, "V"): 6,
    }
    assert symbols[0] == "B" and symbols[-1] == "E"
    node = 1
    for s in symbols[1:-1]:
        node = graph[(node, s)]
    assert node == 6


def test_embedded_reber_strings_and_targets():
    b = synthetic.embedded_reber(30, 0, _gen())
    for k in range(30):
        L = int(b["lengths"][k])
        symbols = [synthetic.REBER_SYMBOLS[int(i)] for i in b["x"][k, :L].argmax(-1)]
        assert symbols[0] == "B" and symbols[-1] == "E" and symbols[1] == symbols[-2] and symbols[1] in "TP"
        _walk_reber(symbols[2:-2])
        for t in range(L - 1):  # the true next symbol is always among the possible ones
            assert b["y"][k, t, synthetic.REBER_SYMBOLS.index(symbols[t + 1])] == 1
        key = int(b["key"][k])
        assert key == L - 3 and symbols[key] == "E"
        assert b["y"][k, key].tolist() == [float(s == symbols[1]) for s in synthetic.REBER_SYMBOLS]
        assert b["x"][k, L:].abs().sum() == 0
