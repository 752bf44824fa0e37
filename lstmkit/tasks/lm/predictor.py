"""Language-model inference, written once for every runtime: `LanguagePredictor` drives a network (the PyTorch
model in lm.py, or the exported graph in onnx_runtime.py) with numpy arrays to evaluate bits per character and
to generate or stream text with a cached recurrent state: the prompt is read once, then every new token costs
one step (never a re-feed). Imports no torch, so both runtimes sample alike: the same seed gives the same text.

A network is anything with
    read(ids (B, T) int64, state or None) -> (logits (B, T, V), state)   None: the zero state
and optionally token_steps(state, batch) -> step(ids (B, 1)) -> logits (B, V), a faster one-token loop
(onnxruntime with bound buffers). Notation: B samples generated together, T steps, V vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lstmkit.deploy.records import frame_of, records_of
from lstmkit.errors import UsageError
from lstmkit.tasks.lm import SPEC, records
from lstmkit.tasks.lm.records import check_sampling


class LanguageNetwork(Protocol):
    def read(self, ids: np.ndarray, state: Any | None) -> tuple[np.ndarray, Any]: ...


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


def filter_logits(logits: np.ndarray, s: Sampling, seen: list[list[int]] | None = None) -> np.ndarray:
    """(B, V) -> float64 logits with the excluded tokens at -inf, after the repetition penalty and temperature."""
    logits = logits.astype(np.float64).copy()
    if seen is not None and s.repetition_penalty != 1.0:
        for b, ids in enumerate(seen):
            idx = np.unique(ids)
            v = logits[b, idx]
            logits[b, idx] = np.where(v > 0, v / s.repetition_penalty, v * s.repetition_penalty)
    if s.temperature > 0:  # below 1e-6 it acts as 1e-6 (as good as greedy, and never a division by zero)
        logits /= max(s.temperature, 1e-6)
    if s.top_k > 0:
        kth = np.sort(logits, -1)[:, -min(s.top_k, logits.shape[-1])][:, None]  # (B, 1)
        logits[logits < kth] = -np.inf
    if s.top_p < 1.0:
        order = np.argsort(-logits, -1, kind="stable")
        srt = np.take_along_axis(logits, order, -1)
        p = np.exp(srt - srt[:, :1])
        p /= p.sum(-1, keepdims=True)
        drop_sorted = (np.cumsum(p, -1) - p) >= s.top_p  # the mass ranked above each token; the first always stays
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, -1)
        logits[drop] = -np.inf
    return logits


def next_tokens(logits: np.ndarray, s: Sampling, rng: np.random.Generator, seen: list[list[int]]) -> np.ndarray:
    """(B, V) -> (B,) sampled (or greedy with temperature 0) token ids."""
    z = filter_logits(logits, s, seen)
    if s.temperature == 0:
        return z.argmax(-1)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.array([rng.choice(len(row), p=row) for row in p])


def cut(text: str, stop: tuple[str, ...]) -> str:
    """The text up to (not including) the first stop string."""
    ends = [text.index(s) for s in stop if s and s in text]
    return text[: min(ends)] if ends else text


def summary(total: float, tokens: int, chars: int) -> dict[str, float]:
    """evaluate()'s figures from a total negative log-likelihood in nats over `tokens` tokens (`chars` characters):
    per token and per character, so char and BPE models compare."""
    return {
        "loss": total / tokens,
        "perplexity": math.exp(total / tokens),
        "bpc": total / chars / math.log(2),
        "char_perplexity": math.exp(total / chars),
        "tokens": tokens,
        "chars": chars,
    }


class LanguagePredictor:
    """A trained language model's inference over any network: evaluate, generate, stream, records."""

    task = SPEC.name
    capabilities = SPEC.capabilities

    def __init__(self, network: LanguageNetwork, tokenizer: Any, stateful: bool = False) -> None:
        self.network, self.tokenizer, self.stateful = network, tokenizer, stateful

    def evaluate(
        self, text: str, chunk: int = 256, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, float]:
        """Loss over the whole text in one carried-state pass: nats per token, bits per character, perplexity
        (per token and per character, so char and BPE models compare). `progress(done, total)` is told the
        tokens read after every chunk (the CLI shows it on long texts)."""
        ids = self.tokenizer.encode(text)
        if len(ids) < 2:
            raise UsageError("the evaluation text needs at least 2 tokens")
        x = np.asarray(ids, np.int64)[None]  # (1, N)
        total, state = 0.0, None
        for i in range(0, x.shape[1] - 1, chunk):
            y = x[:, i + 1 : i + 1 + chunk]
            logits, state = self.network.read(x[:, i : i + y.shape[1]], state)  # (1, T, V)
            z = logits[0].astype(np.float64)
            logz = z.max(-1) + np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1))
            total += float((logz - z[np.arange(y.shape[1]), y[0]]).sum())
            if progress is not None:
                progress(i + y.shape[1], x.shape[1] - 1)
        return summary(total, x.shape[1] - 1, len(self.tokenizer.decode(ids[1:])))

    def evaluate_file(self, path: str, progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
        """A whole file (all of it), or shakespeare's test plays."""
        from lstmkit.data.text import evaluation_text

        return self.evaluate(evaluation_text(path), progress=progress)

    def _steps(self, state: Any, batch: int) -> Callable[[np.ndarray], np.ndarray]:
        own = getattr(self.network, "token_steps", None)
        if own is not None:
            return own(state, batch)

        def step(ids: np.ndarray) -> np.ndarray:
            nonlocal state
            logits, state = self.network.read(ids, state)
            return logits[:, -1]

        return step

    def tokens(self, prompt: str, max_new_tokens: int, num_samples: int = 1, **sampling: Any) -> Iterator[np.ndarray]:
        """Yield (B,) new token ids step by step: the prompt read once, then one step per token."""
        s = Sampling(**sampling)
        ids = self.tokenizer.encode(prompt)
        if not ids:
            raise UsageError("the prompt encodes to no tokens; give some text (e.g. a newline)")
        rng = np.random.default_rng(s.seed)
        x = np.repeat(np.asarray(ids, np.int64)[None], num_samples, 0)  # (B, T0)
        logits, state = self.network.read(x, None)  # the prompt, once
        step = self._steps(state, num_samples)
        last, seen = logits[:, -1], [list(ids) for _ in range(num_samples)]
        for _ in range(max_new_tokens):
            tok = next_tokens(last, s, rng, seen)  # (B,)
            yield tok
            for b, t in enumerate(tok.tolist()):
                seen[b].append(t)
            last = step(tok[:, None].astype(np.int64))  # (B, V)

    def generate(
        self, prompt: str, max_new_tokens: int = 200, num_samples: int = 1, stop: tuple[str, ...] = (), **sampling: Any
    ) -> list[str]:
        """`num_samples` continuations of `prompt`, generated together in one batch."""
        tok = self.tokenizer
        rows: list[list[int]] = [[] for _ in range(num_samples)]
        done = [False] * num_samples
        for step in self.tokens(prompt, max_new_tokens, num_samples, **sampling):
            for b, t in enumerate(step.tolist()):
                if not done[b]:
                    rows[b].append(t)
                    done[b] = bool(stop) and any(x in tok.decode(rows[b]) for x in stop)
            if all(done):
                break
        return [cut(tok.decode(r), stop) for r in rows]

    def stream(
        self, prompt: str, max_new_tokens: int = 200, stop: tuple[str, ...] = (), **sampling: Any
    ) -> Iterator[str]:
        """Yield the generated text piece by piece as tokens are produced (one sample)."""
        ids: list[int] = []
        shown = ""
        for step in self.tokens(prompt, max_new_tokens, 1, **sampling):
            ids.append(int(step[0]))
            text = self.tokenizer.decode(ids)
            done = cut(text, stop)
            if text.endswith("\ufffd") and done == text:
                continue  # an unfinished multi-byte character: wait for its next byte
            if len(done) > len(shown):
                yield done[len(shown) :]
                shown = done
            if done != text:
                return
        rest = cut(self.tokenizer.decode(ids), stop)[len(shown) :]
        if rest:  # the budget ended inside a multi-byte character: what generate returns, as it is
            yield rest

    # ---- the inference protocol (serving)

    def schema(self) -> dict[str, Any]:
        return records.schema(stateful=self.stateful)

    def predict_records(self, records_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each {"prompt": ..., sampling options} -> {"prompt", "completion"} (default: 100 tokens, T 0.8)."""
        return records.predict_records(self, records_)

    def predict_frame(self, frame: Any) -> Any:
        return frame_of(self.predict_records(records_of(frame)))
