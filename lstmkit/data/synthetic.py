"""Generated long-range tasks: each answer depends on something seen long before.

Notation: n sequences, T the span to bridge. Every generator takes (n, T, generator) and returns a batch dict:
"x" (n, T', I) float, "y" the target, and for variable-length tasks "lengths" (n,); "key" (n,) marks the step
of the long-range prediction where a task has one.

- adding (Hochreiter & Schmidhuber 1997; Le et al. 2015): sum two marked values; regression, MSE.
- copy (Arjovsky et al. 2016): see 10 symbols, wait T steps, reproduce them; recall accuracy.
- temporal order (Hochreiter & Schmidhuber 1997, task 6a): the order of two relevant symbols X/Y placed
  ~0.1T and ~0.5T into noise decides one of 4 classes; accuracy.
- embedded Reber grammar (Hochreiter & Schmidhuber 1997): predict the possible next symbols; the second symbol
  (T or P) must be recalled just before the end; long-range accuracy at that step.
- multi-query associative recall (Arora et al. 2023, "Zoology"): key-value pairs, then queries of those keys;
  at each query the value that key was given; query accuracy. A matrix memory stores pairs; a vector state
  must squeeze them in.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.errors import UsageError

Batch = dict[str, Tensor]  # "x", "y", and for some tasks "lengths" (n,) and "key" (n,)


def take(batch: Batch, start: int, stop: int) -> Batch:
    """Rows start:stop of every tensor in a batch."""
    return {k: v[start:stop] for k, v in batch.items()}


def adding(n: int, length: int, generator: torch.Generator) -> Batch:
    """x (n, T, 2): values U(0, 1) and a mark on one step in each half; y (n, 1): the sum of the marked values."""
    values = torch.rand(n, length, generator=generator)  # (n, T)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    rows = torch.arange(n)
    marks = torch.zeros(n, length)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=-1)  # (n, T, 2)
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)  # (n, 1)
    return {"x": x, "y": y}


COPY_SYMBOLS = 8  # data symbols 1..8; 0 is blank, 9 the "recall now" delimiter
COPY_LENGTH = 10


def copy_memory(n: int, length: int, generator: torch.Generator) -> Batch:
    """x (n, T + 20, 10) one-hot; y (n, T + 20) class per step: blank (0) except the last 10 steps, which repeat
    the first 10 symbols. The delimiter sits 10 steps before the end."""
    K = COPY_LENGTH
    total = length + 2 * K
    symbols = torch.randint(1, COPY_SYMBOLS + 1, (n, K), generator=generator)
    tokens = torch.zeros(n, total, dtype=torch.long)
    tokens[:, :K] = symbols
    tokens[:, total - K - 1] = COPY_SYMBOLS + 1  # delimiter
    y = torch.zeros(n, total, dtype=torch.long)
    y[:, total - K :] = symbols
    x = torch.nn.functional.one_hot(tokens, COPY_SYMBOLS + 2).float()  # (n, T + 20, 10)
    return {"x": x, "y": y}


ORDER_NOISE = 4  # a, b, c, d; then X, Y, B (begin), E (end)
X_SYM, Y_SYM, B_SYM, E_SYM = 4, 5, 6, 7


def temporal_order(n: int, length: int, generator: torch.Generator) -> Batch:
    """x (n, T, 8) one-hot; y (n,) in 0..3: (first is Y) * 2 + (second is Y)."""
    if length < 20:
        raise UsageError(f"temporal order needs length >= 20 (relevant symbols sit at ~0.1T and ~0.5T), got {length}")
    tokens = torch.randint(0, ORDER_NOISE, (n, length), generator=generator)
    tokens[:, 0], tokens[:, -1] = B_SYM, E_SYM
    lo1, hi1 = max(1, length // 10), max(2, length // 5)
    lo2, hi2 = length // 2, max(length // 2 + 1, (6 * length) // 10)
    t1 = torch.randint(lo1, hi1, (n,), generator=generator)
    t2 = torch.randint(lo2, hi2, (n,), generator=generator)
    first_y = torch.randint(0, 2, (n,), generator=generator)
    second_y = torch.randint(0, 2, (n,), generator=generator)
    rows = torch.arange(n)
    tokens[rows, t1] = X_SYM + first_y
    tokens[rows, t2] = X_SYM + second_y
    x = torch.nn.functional.one_hot(tokens, 8).float()
    return {"x": x, "y": first_y * 2 + second_y}


# Reber grammar: node -> [(symbol, next node)]; node 6 emits E and ends.
REBER_SYMBOLS = "BTPSXVE"
_REBER = {
    1: [("T", 2), ("P", 3)],
    2: [("S", 2), ("X", 4)],
    3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)],
    5: [("P", 4), ("V", 6)],
}
_IDX = {s: i for i, s in enumerate(REBER_SYMBOLS)}


def _reber_string(gen: torch.Generator) -> tuple[list[str], list[set[str]]]:
    """One inner Reber string 'B ... E' and, for each of its symbols, the set of symbols that may follow."""
    symbols, nexts, node = ["B"], [], 1
    while node != 6:
        options = _REBER[node]
        nexts.append({s for s, _ in options})
        symbol, node = options[int(torch.randint(0, len(options), (1,), generator=gen))]
        symbols.append(symbol)
    nexts.append({"E"})
    symbols.append("E")
    nexts.append(set())
    return symbols, nexts


def embedded_reber_string(gen: torch.Generator) -> tuple[list[str], list[set[str]], int]:
    """B, T|P, an inner Reber string, the same T|P, E. Returns symbols, possible-next sets, and the index of
    the step whose next symbol is the remembered T|P (the long-range prediction)."""
    branch = "TP"[int(torch.randint(0, 2, (1,), generator=gen))]
    inner, inner_next = _reber_string(gen)
    symbols = ["B", branch, *inner, branch, "E"]
    nexts = [{"T", "P"}, {"B"}, *inner_next[:-1], {branch}, {"E"}, set()]
    return symbols, nexts, len(symbols) - 3


def embedded_reber(n: int, length: int, generator: torch.Generator) -> Batch:
    """x (n, L, 7) one-hot symbols padded to the longest string, y (n, L, 7) multi-hot possible-next sets,
    lengths (n,), key (n,): the step whose next symbol is the remembered T|P. `length` is unused (the grammar
    sets the length)."""
    strings = [embedded_reber_string(generator) for _ in range(n)]
    L = max(len(s) for s, _, _ in strings)
    x = torch.zeros(n, L, len(REBER_SYMBOLS))
    y = torch.zeros(n, L, len(REBER_SYMBOLS))
    for k, (symbols, nexts, _) in enumerate(strings):
        for t, (s, nxt) in enumerate(zip(symbols, nexts)):
            x[k, t, _IDX[s]] = 1.0
            for s2 in nxt:
                y[k, t, _IDX[s2]] = 1.0
    lengths = torch.tensor([len(s) for s, _, _ in strings])
    key = torch.tensor([key for _, _, key in strings])
    return {"x": x, "y": y, "lengths": lengths, "key": key}


RECALL_KEYS, RECALL_VALUES = 32, 16  # key symbols 0..31, value symbols 32..47


def associative_recall(n: int, length: int, generator: torch.Generator) -> Batch:
    """x (n, T, 48) one-hot: P = T // 4 key-value pairs (distinct keys; a key then its value), then T - 2P queries
    (keys of those pairs, in random order, repeats allowed); y (n, T): the queried key's value (0..15) at each
    query step, -1 elsewhere (not scored)."""
    pairs = max(1, min(length // 4, RECALL_KEYS))
    queries = length - 2 * pairs
    if queries < 1:
        raise UsageError(f"recall needs length >= 4 (pairs, then queries); got {length}")
    keys = torch.argsort(torch.rand(n, RECALL_KEYS, generator=generator), 1)[:, :pairs]  # (n, P) distinct
    values = torch.randint(0, RECALL_VALUES, (n, pairs), generator=generator)  # (n, P)
    asked = torch.randint(0, pairs, (n, queries), generator=generator)  # which pair each query asks for
    tokens = torch.empty(n, length, dtype=torch.long)
    tokens[:, 0 : 2 * pairs : 2] = keys
    tokens[:, 1 : 2 * pairs : 2] = RECALL_KEYS + values
    tokens[:, 2 * pairs :] = keys.gather(1, asked)
    y = torch.full((n, length), -1, dtype=torch.long)
    y[:, 2 * pairs :] = values.gather(1, asked)
    x = torch.nn.functional.one_hot(tokens, RECALL_KEYS + RECALL_VALUES).float()  # (n, T, 48)
    return {"x": x, "y": y}
