"""Greedy decoding and batched beam search over the encoder-decoder.

Both run the decoder one step at a time on cached state: the encoder's memory is computed once, the
decoder state (h, c) is reordered with the core's `select_state` as beams move (the prefix is never fed
again), and a sentence leaves the batch the moment it is done.

Scores: a hypothesis's log-probability (its end of sentence included) normalised by a length penalty, plus
an optional coverage penalty (Wu et al. 2016), with length = the tokens generated, EOS included:
    none  logP
    avg   logP / length
    wu    logP / ((5 + length) / 6) ** alpha
    cov   + beta * sum over real source tokens i of log(min(sum_t attention[t, i], 1))
Each step keeps the K best continuations that are not an end of sentence; an end of sentence among the K
best candidates finishes a hypothesis (so a beam of 1 is greedy decoding). A sentence is done once its n-best
finished hypotheses score at least what any live beam could still reach
(log-probabilities only fall as a hypothesis grows, and the penalties are bounded), so with a beam as wide as
the search space, beam search returns the exact best sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lstmkit.nn import select_state
from lstmkit.tasks.translate.config import DecodeConfig
from lstmkit.tasks.translate.features import BOS, EOS, PAD
from lstmkit.tasks.translate.model import Seq2Seq

NEG = float("-inf")
COVERAGE_FLOOR = 1e-10  # log(min(x, 1)) of a source token that received no attention at all: log(1e-10)


@dataclass
class Hypothesis:
    """One translation: its token ids (EOS excluded), log-probability, normalised score and attention (T, S)."""

    tokens: list[int]
    logprob: float
    score: float
    attention: Tensor


def length_penalty(kind: str, length: int, alpha: float) -> float:
    """The divisor of a hypothesis's log-probability (see the module docstring)."""
    if kind == "avg":
        return float(length)
    if kind == "wu":
        return ((5.0 + length) / 6.0) ** alpha
    return 1.0


def coverage_penalty(coverage: Tensor, beta: float) -> float:
    """beta * sum_i log(min(coverage_i, 1)) over the real source tokens' accumulated attention (S,)."""
    if beta == 0:
        return 0.0
    return beta * float(torch.log(coverage.clamp(min=COVERAGE_FLOOR, max=1.0)).sum())


def final_score(logprob: float, length: int, coverage: Tensor, opts: DecodeConfig) -> float:
    return logprob / length_penalty(opts.length_penalty, length, opts.alpha) + coverage_penalty(coverage,
                                                                                                opts.coverage_penalty)


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


def constrain(logp: Tensor, t: int, limits: list[int], seqs: list[list[int]], opts: DecodeConfig) -> Tensor:
    """Step t's log-probabilities (N, V) with the rules applied: never PAD or BOS; no EOS before min_length;
    only EOS at a row's length limit; no repeated n-gram."""
    logp = logp.clone()
    logp[:, PAD] = NEG
    logp[:, BOS] = NEG
    if t < opts.min_length:
        logp[:, EOS] = NEG
    if opts.block_ngram:
        for r, seq in enumerate(seqs):
            ban = banned(seq, opts.block_ngram)
            if ban:
                logp[r, ban] = NEG
    at_limit = torch.tensor([t + 1 >= n for n in limits], device=logp.device)
    if at_limit.any():
        eos = logp[:, EOS].clone()
        logp[at_limit] = NEG
        logp[at_limit, EOS] = eos[at_limit]
    return logp


@torch.no_grad()
def greedy(model: Seq2Seq, src: Tensor, lengths: Tensor, opts: DecodeConfig) -> list[Hypothesis]:
    """The likeliest next token at every step, for a batch of sources (B, S) -> one Hypothesis each."""
    memory, state = model.encode(src, lengths)
    feed = model.initial_feed(memory)
    B = src.shape[0]
    limits = [opts.length_limit(int(n)) for n in lengths]
    rows = list(range(B))  # the sentences still decoding
    seqs: list[list[int]] = [[] for _ in range(B)]
    logprob = [0.0] * B
    attn: list[list[Tensor]] = [[] for _ in range(B)]
    out: list[Hypothesis | None] = [None] * B
    last = torch.full((B,), BOS, dtype=torch.long, device=src.device)
    for t in range(max(limits)):
        logp, state, feed, w = model.step(last, state, feed, memory)
        logp = constrain(logp, t, [limits[b] for b in rows], [seqs[b] for b in rows], opts)
        y = logp.argmax(-1)  # (N,)
        picked = logp.gather(1, y[:, None])[:, 0].tolist()
        keep = []
        for r, (b, tok, lp) in enumerate(zip(rows, y.tolist(), picked)):
            logprob[b] += lp
            attn[b].append(w[r])
            if tok == EOS:
                a = torch.stack(attn[b])  # (T, S)
                out[b] = Hypothesis(seqs[b], logprob[b], final_score(logprob[b], t + 1, _coverage(a, lengths[b]), opts), a)
            else:
                seqs[b].append(tok)
                keep.append(r)
        if not keep:
            break
        if len(keep) < len(rows):  # finished sentences leave the batch
            idx = torch.tensor(keep, device=src.device)
            state, feed, memory, y = select_state(state, idx), feed.index_select(0, idx), memory.select(idx), y[idx]
            rows = [rows[r] for r in keep]
        last = y
    return out  # type: ignore[return-value]  (every row ends: EOS is forced at its length limit)


def _coverage(attention: Tensor, length: Tensor | int) -> Tensor:
    """(T, S) attention -> (S_real,) attention each real source token received."""
    return attention[:, : int(length)].sum(0)


@torch.no_grad()
def beam_search(model: Seq2Seq, src: Tensor, lengths: Tensor, opts: DecodeConfig) -> list[list[Hypothesis]]:
    """Batched beam search: sources (B, S) -> for each, its n_best hypotheses, best first."""
    B, K = src.shape[0], opts.beam_size
    memory, state = model.encode(src, lengths)
    limits = [opts.length_limit(int(n)) for n in lengths]
    block = torch.arange(B, device=src.device).repeat_interleave(K)  # each sentence once per beam
    memory, state = memory.select(block), select_state(state, block)
    feed = model.initial_feed(memory)
    sents = list(range(B))  # the sentences still decoding, K rows each
    scores = torch.full((B, K), NEG, device=src.device)
    scores[:, 0] = 0.0  # (A, K): only the first beam is live at the start
    seqs: list[list[int]] = [[] for _ in range(B * K)]
    hist = memory.values.new_zeros(B * K, 0, src.shape[1])  # (N, t, S) attention so far
    last = torch.full((B * K,), BOS, dtype=torch.long, device=src.device)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    for t in range(max(limits)):
        logp, state, feed, w = model.step(last, state, feed, memory)  # (N, V)
        hist = torch.cat([hist, w[:, None]], 1)  # (N, t+1, S)
        logp = constrain(logp, t, [limits[b] for b in sents for _ in range(K)], seqs, opts)
        V = logp.shape[1]
        top, index = (scores.reshape(-1, 1) + logp).view(len(sents), K * V).topk(min(2 * K, K * V), dim=1)
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
                    finished[b].append(Hypothesis(seqs[row], s, final_score(s, t + 1, _coverage(h, lengths[b]), opts), h))
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
        idx = torch.tensor(rows, device=src.device)
        if len(still) < len(sents):  # finished sentences leave the batch
            memory = memory.select(torch.tensor([a * K + k for a in still for k in range(K)], device=src.device))
            sents = [sents[a] for a in still]
        state, feed, hist = select_state(state, idx), feed.index_select(0, idx), hist.index_select(0, idx)
        seqs = [seqs[r] + [tok] for r, tok in zip(rows, toks)]
        last = torch.tensor(toks, device=src.device)
        scores = torch.tensor(new_scores, device=src.device).view(len(sents), K)
    return [sorted(f, key=lambda h: -h.score)[: opts.n_best] for f in finished]


def _done(finished: list[Hypothesis], alive: list, t: int, limit: int, opts: DecodeConfig) -> bool:
    """No live beam left, the length limit reached, or the n-best finished ones out of every live beam's reach."""
    if not alive or t + 1 >= limit:
        return True
    if len(finished) < opts.n_best:
        return False
    nth = sorted((h.score for h in finished), reverse=True)[opts.n_best - 1]
    return nth >= _bound(alive[0][2], limit, opts)


def search(model: Seq2Seq, src: Tensor, lengths: Tensor, opts: DecodeConfig) -> list[list[Hypothesis]]:
    """Greedy when the beam is 1 and one translation is asked for, else beam search."""
    if opts.beam_size == 1:
        return [[h] for h in greedy(model, src, lengths, opts)]
    return beam_search(model, src, lengths, opts)
