"""Greedy decoding and batched beam search, in numpy over a `Stepper`: the same search drives the PyTorch
model (`model.TorchStepper`) and its ONNX export (`onnx_runtime.OnnxStepper`).

The stepper keeps the encoder's memory (computed once) and the decoder state for its rows; `select` reorders
the state as beams move (the prefix is never fed again; in PyTorch with the core's `select_state`) and drops
the memory of a sentence the moment it is done, so finished sentences leave the batch.

Scores: a hypothesis's log-probability (its end of sentence included) normalised by a length penalty, plus
an optional coverage penalty (Wu et al. 2016), with length = the tokens generated, EOS included:
    none  logP
    avg   logP / length
    wu    logP / ((5 + length) / 6) ** alpha
    cov   + beta * sum over real source tokens i of log(min(sum_t attention[t, i], 1))
Each step keeps the K best continuations that are not an end of sentence; an end of sentence among the K
best candidates finishes a hypothesis (so a beam of 1 is greedy decoding). A sentence is done once its n-best
finished hypotheses score at least what any live beam could still reach (log-probabilities only fall as a
hypothesis grows, and the penalties are bounded), so with a beam as wide as the search space, beam search
returns the exact best sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lstmkit.tasks.translate.config import DecodeConfig
from lstmkit.tasks.translate.vocab import BOS, EOS, PAD, Vocabularies

NEG = float("-inf")
COVERAGE_FLOOR = 1e-10  # log(min(x, 1)) of a source token that received no attention at all: log(1e-10)


class Stepper(Protocol):
    """A decoder with its state kept for N rows (sentences x beams)."""

    def start(self, src: np.ndarray, lengths: np.ndarray) -> None:
        """Encode sources (B, S) with lengths (B,); the rows are the B sentences, each at its initial state."""

    def step(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Previous tokens (N,) -> log-probabilities (N, V) and attention (N, S); the state advances."""

    def select(self, rows: np.ndarray, memory_rows: np.ndarray | None = None) -> None:
        """Keep/reorder the state's rows (and the memory's, when given)."""


@dataclass
class Hypothesis:
    """One translation: its token ids (EOS excluded), log-probability, normalised score and attention (T, S)."""

    tokens: list[int]
    logprob: float
    score: float
    attention: np.ndarray


def length_penalty(kind: str, length: int, alpha: float) -> float:
    """The divisor of a hypothesis's log-probability (see the module docstring)."""
    if kind == "avg":
        return float(length)
    if kind == "wu":
        return ((5.0 + length) / 6.0) ** alpha
    return 1.0


def coverage_penalty(coverage: np.ndarray, beta: float) -> float:
    """beta * sum_i log(min(coverage_i, 1)) over the real source tokens' accumulated attention (S,)."""
    if beta == 0:
        return 0.0
    return beta * float(np.log(np.clip(coverage, COVERAGE_FLOOR, 1.0)).sum())


def final_score(logprob: float, length: int, coverage: np.ndarray, opts: DecodeConfig) -> float:
    return logprob / length_penalty(opts.length_penalty, length, opts.alpha) + coverage_penalty(
        coverage, opts.coverage_penalty
    )


def _bound(best_alive: float, limit: int, opts: DecodeConfig) -> float:
    """The highest score a live hypothesis with log-probability `best_alive` could still finish with."""
    if best_alive == NEG:
        return NEG
    return best_alive / length_penalty(opts.length_penalty, limit, opts.alpha)  # logP <= 0: the longest is best


def banned(seq: list[int], n: int) -> list[int]:
    """Tokens that would complete an n-gram `seq` already holds."""
    if n <= 0 or len(seq) < n - 1:
        return []
    if n == 1:
        return sorted(set(seq))
    prefix = seq[len(seq) - n + 1 :]
    return [seq[i + n - 1] for i in range(len(seq) - n + 1) if seq[i : i + n - 1] == prefix]


def constrain(logp: np.ndarray, t: int, limits: list[int], seqs: list[list[int]], opts: DecodeConfig) -> np.ndarray:
    """Step t's log-probabilities (N, V) with the rules applied: never PAD or BOS; no EOS before min_length;
    only EOS at a row's length limit; no repeated n-gram."""
    logp = np.array(logp, dtype=np.float64)
    logp[:, [PAD, BOS]] = NEG
    if t < opts.min_length:
        logp[:, EOS] = NEG
    if opts.block_ngram:
        for r, seq in enumerate(seqs):
            ban = banned(seq, opts.block_ngram)
            if ban:
                logp[r, ban] = NEG
    at_limit = np.asarray([t + 1 >= n for n in limits])
    if at_limit.any():
        eos = logp[at_limit, EOS].copy()
        logp[at_limit] = NEG
        logp[at_limit, EOS] = eos
    return logp


def _coverage(attention: np.ndarray, length: int) -> np.ndarray:
    """(T, S) attention -> (S_real,) attention each real source token received."""
    return attention[:, :length].sum(0)


def greedy(stepper: Stepper, src: np.ndarray, lengths: np.ndarray, opts: DecodeConfig) -> list[Hypothesis]:
    """The likeliest next token at every step, for a batch of sources (B, S) -> one Hypothesis each."""
    stepper.start(src, lengths)
    B = src.shape[0]
    limits = [opts.length_limit(int(n)) for n in lengths]
    rows = list(range(B))  # the sentences still decoding
    seqs: list[list[int]] = [[] for _ in range(B)]
    logprob = [0.0] * B
    attn: list[list[np.ndarray]] = [[] for _ in range(B)]
    out: list[Hypothesis | None] = [None] * B
    last = np.full(B, BOS, dtype=np.int64)
    for t in range(max(limits)):
        logp, w = stepper.step(last)
        logp = constrain(logp, t, [limits[b] for b in rows], [seqs[b] for b in rows], opts)
        y = logp.argmax(-1)  # (N,)
        keep = []
        for r, (b, tok) in enumerate(zip(rows, y.tolist())):
            logprob[b] += float(logp[r, tok])
            attn[b].append(np.array(w[r]))
            if tok == EOS:
                a = np.stack(attn[b])  # (T, S)
                out[b] = Hypothesis(
                    seqs[b], logprob[b], final_score(logprob[b], t + 1, _coverage(a, int(lengths[b])), opts), a
                )
            else:
                seqs[b].append(tok)
                keep.append(r)
        if not keep:
            break
        if len(keep) < len(rows):  # finished sentences leave the batch
            idx = np.asarray(keep)
            stepper.select(idx, idx)
            rows, y = [rows[r] for r in keep], y[idx]
        last = y.astype(np.int64)
    return out  # type: ignore[return-value]  (every row ends: EOS is forced at its length limit)


def beam_search(stepper: Stepper, src: np.ndarray, lengths: np.ndarray, opts: DecodeConfig) -> list[list[Hypothesis]]:
    """Batched beam search: sources (B, S) -> for each, its n_best hypotheses, best first."""
    B, K = src.shape[0], opts.beam_size
    stepper.start(src, lengths)
    limits = [opts.length_limit(int(n)) for n in lengths]
    block = np.repeat(np.arange(B), K)  # each sentence once per beam
    stepper.select(block, block)
    sents = list(range(B))  # the sentences still decoding, K rows each
    scores = np.full((B, K), NEG)
    scores[:, 0] = 0.0  # (A, K): only the first beam is live at the start
    seqs: list[list[int]] = [[] for _ in range(B * K)]
    hist = np.zeros((B * K, 0, src.shape[1]), np.float32)  # (N, t, S) attention so far
    last = np.full(B * K, BOS, dtype=np.int64)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    for t in range(max(limits)):
        logp, w = stepper.step(last)  # (N, V)
        hist = np.concatenate([hist, np.asarray(w, np.float32)[:, None]], 1)  # (N, t+1, S)
        logp = constrain(logp, t, [limits[b] for b in sents for _ in range(K)], seqs, opts)
        V = logp.shape[1]
        top, index = _topk((scores.reshape(-1, 1) + logp).reshape(len(sents), K * V), min(2 * K, K * V))
        rows, toks, new_scores, still = [], [], [], []
        for a, b in enumerate(sents):
            alive = []
            for rank, (s, i) in enumerate(zip(top[a].tolist(), index[a].tolist())):
                if s == NEG:
                    break
                row, tok = a * K + i // V, i % V
                if tok == EOS:
                    if rank >= K:
                        continue  # an end of sentence counts when it is among the K best (beam 1 = greedy)
                    h = hist[row]
                    finished[b].append(
                        Hypothesis(seqs[row], s, final_score(s, t + 1, _coverage(h, int(lengths[b])), opts), h)
                    )
                elif len(alive) < K:
                    alive.append((row, tok, s))
            if _done(finished[b], alive, t, limits[b], opts):
                continue
            alive += [(alive[0][0], alive[0][1], NEG)] * (K - len(alive))  # dead fillers keep K rows a sentence
            still.append(a)
            for row, tok, s in alive:
                rows.append(row)
                toks.append(tok)
                new_scores.append(s)
        if not still:
            break
        idx = np.asarray(rows)
        memory_rows = None
        if len(still) < len(sents):  # finished sentences leave the batch
            memory_rows = np.asarray([a * K + k for a in still for k in range(K)])
            sents = [sents[a] for a in still]
        stepper.select(idx, memory_rows)
        hist = hist[idx]
        seqs = [seqs[r] + [tok] for r, tok in zip(rows, toks)]
        last = np.asarray(toks, dtype=np.int64)
        scores = np.asarray(new_scores).reshape(len(sents), K)
    return [sorted(f, key=lambda h: -h.score)[: opts.n_best] for f in finished]


def _topk(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k largest values and their indices, largest first (ties: the lower index first)."""
    idx = np.argpartition(-x, k - 1, axis=1)[:, :k] if k < x.shape[1] else np.tile(np.arange(x.shape[1]), (len(x), 1))
    vals = np.take_along_axis(x, idx, 1)
    order = np.lexsort((idx, -vals), axis=1)
    idx = np.take_along_axis(idx, order, 1)
    return np.take_along_axis(x, idx, 1), idx


def _done(finished: list[Hypothesis], alive: list, t: int, limit: int, opts: DecodeConfig) -> bool:
    """No live beam left, the length limit reached, or the n-best finished ones out of every live beam's reach."""
    if not alive or t + 1 >= limit:
        return True
    if len(finished) < opts.n_best:
        return False
    nth = sorted((h.score for h in finished), reverse=True)[opts.n_best - 1]
    return nth >= _bound(alive[0][2], limit, opts)


def search(stepper: Stepper, src: np.ndarray, lengths: np.ndarray, opts: DecodeConfig) -> list[list[Hypothesis]]:
    """Greedy when the beam is 1, else beam search."""
    if opts.beam_size == 1:
        return [[h] for h in greedy(stepper, src, lengths, opts)]
    return beam_search(stepper, src, lengths, opts)


DECODE_BATCH = 64  # sentences decoded together (sorted by length)


def decode_texts(stepper: Stepper, vocab: Vocabularies, texts: list[str], opts: DecodeConfig) -> list[list[Hypothesis]]:
    """Each text's n-best hypotheses, best first, decoded in batches of similar length."""
    ids = [vocab.encode_src(t) for t in texts]
    order = np.argsort([len(s) for s in ids], kind="stable")
    out: list[list[Hypothesis]] = [[] for _ in texts]
    for i in range(0, len(ids), DECODE_BATCH):
        idx = order[i : i + DECODE_BATCH]
        part = [ids[j] for j in idx]
        lengths = np.asarray([len(s) for s in part], np.int64)
        src = np.full((len(part), int(lengths.max())), PAD, np.int64)
        for k, s in enumerate(part):
            src[k, : len(s)] = s
        for j, hyps in zip(idx, search(stepper, src, lengths, opts)):
            out[j] = hyps
    return out
