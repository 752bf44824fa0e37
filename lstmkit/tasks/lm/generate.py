"""Sampling from a language model with a cached recurrent state: the prompt is read once, then every new
token costs one LSTM step (never a re-feed of the sequence).

Notation: B samples generated together, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from lstmkit.errors import UsageError
from lstmkit.tasks.lm.model import LanguageNet
from lstmkit.tasks.lm.records import check_sampling


@dataclass(frozen=True)
class Sampling:
    """How the next token is drawn."""

    temperature: float = 1.0  # < 1 sharper, > 1 flatter; 0 = greedy
    top_k: int = 0  # keep only the k most likely tokens (0: off)
    top_p: float = 1.0  # keep the smallest set whose probability reaches p (nucleus; 1: off)
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the prompt or output (CTRL)
    seed: int | None = None

    def __post_init__(self) -> None:
        check_sampling(self.temperature, self.top_k, self.top_p, self.repetition_penalty, self.seed)


def filter_logits(logits: Tensor, s: Sampling, seen: Tensor | None = None) -> Tensor:
    """(B, V) logits -> logits with the excluded tokens at -inf, after penalty and temperature."""
    logits = logits.float().clone()
    if seen is not None and s.repetition_penalty != 1.0:
        picked = logits.gather(1, seen)
        picked = torch.where(picked > 0, picked / s.repetition_penalty, picked * s.repetition_penalty)
        logits.scatter_(1, seen, picked)
    if s.temperature > 0:  # below 1e-6 it acts as 1e-6 (as good as greedy; a float32 divisor stays non-zero)
        logits = logits / max(s.temperature, 1e-6)
    if s.top_k > 0:
        kth = torch.topk(logits, min(s.top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if s.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass of the tokens ranked above each one
        drop_sorted = before >= s.top_p  # the first token is always kept
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def next_token(logits: Tensor, s: Sampling, gen: torch.Generator, seen: Tensor | None) -> Tensor:
    """(B, V) -> (B,) sampled (or greedy with temperature 0) token ids."""
    logits = filter_logits(logits, s, seen)
    if s.temperature == 0:
        return logits.argmax(-1)
    return torch.multinomial(logits.softmax(-1), 1, generator=gen)[:, 0]


@torch.no_grad()
def sample_tokens(
    model: LanguageNet, prompt: list[int], max_new_tokens: int, s: Sampling, num_samples: int = 1
) -> Iterator[Tensor]:
    """Yield (B,) new token ids step by step; the prompt is read once and the state is carried."""
    if not prompt:
        raise UsageError("the prompt encodes to no tokens; give some text (e.g. a newline)")
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu")
    gen.manual_seed(s.seed if s.seed is not None else int(torch.randint(2**31, (1,)).item()))
    model.eval()
    x = torch.tensor(prompt, device=device).expand(num_samples, -1)  # (B, T0)
    logits, hx = model(x)  # the prompt, once
    seen = x.clone()
    for _ in range(max_new_tokens):
        tok = next_token(logits[:, -1].cpu(), s, gen, seen.cpu()).to(device)  # (B,)
        yield tok
        seen = torch.cat([seen, tok[:, None]], dim=1)
        logits, hx = model(tok[:, None], hx)  # one step, from the cached state
