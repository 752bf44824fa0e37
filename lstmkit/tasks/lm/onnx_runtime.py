"""A language model exported to ONNX, run with onnxruntime and numpy only (no torch): evaluate (bits per
character), generate and stream with the same sampling options as the PyTorch runtime (greedy,
`temperature=0`, gives the same tokens; sampled text uses numpy's generator, so seeds do not carry over)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from lstmkit.data.tokenizers import tokenizer_from_dict
from lstmkit.deploy.records import frame_of, records_of
from lstmkit.errors import UsageError
from lstmkit.tasks.lm import SPEC, records


def filter_logits(
    logits: np.ndarray, temperature: float, top_k: int, top_p: float, penalty: float, seen: list[list[int]]
) -> np.ndarray:
    """(B, V) -> logits with the excluded tokens at -inf, after the repetition penalty and temperature."""
    logits = logits.astype(np.float64).copy()
    if penalty != 1.0:
        for b, ids in enumerate(seen):
            idx = np.unique(ids)
            v = logits[b, idx]
            logits[b, idx] = np.where(v > 0, v / penalty, v * penalty)
    if temperature > 0:  # below 1e-6 it acts as 1e-6, as in the PyTorch sampler
        logits /= max(temperature, 1e-6)
    if top_k > 0:
        kth = np.sort(logits, -1)[:, -min(top_k, logits.shape[-1])][:, None]
        logits[logits < kth] = -np.inf
    if top_p < 1.0:
        order = np.argsort(-logits, -1, kind="stable")
        srt = np.take_along_axis(logits, order, -1)
        p = np.exp(srt - srt[:, :1])
        p /= p.sum(-1, keepdims=True)
        drop_sorted = (np.cumsum(p, -1) - p) >= top_p
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, -1)
        logits[drop] = -np.inf
    return logits


class OnnxLanguageModel:
    task = SPEC.name
    capabilities = SPEC.capabilities

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.tokenizer = tokenizer_from_dict(runner.asset("tokenizer"))
        self.L, self.H = runner.meta["num_layers"], runner.meta["hidden_size"]

    def initial(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        z = np.zeros((self.L, batch, self.H), np.float32)
        return z, z.copy()

    def forward(self, ids: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ids (B, T) -> logits (B, T, V), h, c (L, B, H)."""
        out = self.runner.run("model", {"tokens": ids, "h": h, "c": c})
        return out["logits"], out["h_out"], out["c_out"]

    def evaluate(self, text: str, chunk: int = 256) -> dict[str, float]:
        """Nats per token, bits per character and perplexity over `text`, in one carried-state pass."""
        ids = self.tokenizer.encode(text)
        if len(ids) < 2:
            raise UsageError("the evaluation text needs at least 2 tokens")
        x = np.asarray(ids, np.int64)[None]
        h, c = self.initial(1)
        total = 0.0
        for i in range(0, x.shape[1] - 1, chunk):
            y = x[:, i + 1 : i + 1 + chunk]
            logits, h, c = self.forward(x[:, i : i + y.shape[1]], h, c)
            z = logits[0].astype(np.float64)
            logz = z.max(-1) + np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1))
            total += float((logz - z[np.arange(y.shape[1]), y[0]]).sum())
        n = x.shape[1] - 1
        chars = len(self.tokenizer.decode(ids[1:]))
        return {
            "loss": total / n,
            "perplexity": math.exp(total / n),
            "bpc": total / chars / math.log(2),
            "char_perplexity": math.exp(total / chars),
            "tokens": n,
            "chars": chars,
        }

    def evaluate_file(self, path: str) -> dict[str, float]:
        """A whole file (all of it), or shakespeare's test plays."""
        from lstmkit.data.text import evaluation_text

        return self.evaluate(evaluation_text(path))

    def tokens(
        self,
        prompt: str,
        max_new_tokens: int,
        num_samples: int = 1,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        seed: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield (B,) new token ids step by step: the prompt read once, then one step per token."""
        ids = self.tokenizer.encode(prompt)
        if not ids:
            raise UsageError("the prompt encodes to no tokens; give some text (e.g. a newline)")
        records.check_sampling(temperature, top_k, top_p, repetition_penalty, seed)
        from lstmkit.deploy.streaming import StreamingStep

        rng = np.random.default_rng(seed)
        x = np.repeat(np.asarray(ids, np.int64)[None], num_samples, 0)  # (B, T0)
        logits, h, c = self.forward(x, *self.initial(num_samples))  # the prompt, once
        step = StreamingStep(self.runner, batch=num_samples)  # then one bound step per token
        step.set_state({"h": h, "c": c})
        last = logits[:, -1]
        seen = [list(ids) for _ in range(num_samples)]
        for _ in range(max_new_tokens):
            z = filter_logits(last, temperature, top_k, top_p, repetition_penalty, seen)
            if temperature == 0:
                tok = z.argmax(-1)
            else:
                p = np.exp(z - z.max(-1, keepdims=True))
                p /= p.sum(-1, keepdims=True)
                tok = np.array([rng.choice(len(row), p=row) for row in p])
            yield tok
            for b, t in enumerate(tok.tolist()):
                seen[b].append(t)
            last = step({"tokens": tok[:, None]})["logits"][:, -1]

    def generate(
        self, prompt: str, max_new_tokens: int = 200, num_samples: int = 1, stop: tuple[str, ...] = (), **sampling: Any
    ) -> list[str]:
        rows: list[list[int]] = [[] for _ in range(num_samples)]
        done = [False] * num_samples
        for step in self.tokens(prompt, max_new_tokens, num_samples, **sampling):
            for b, t in enumerate(step.tolist()):
                if not done[b]:
                    rows[b].append(t)
                    done[b] = bool(stop) and any(s in self.tokenizer.decode(rows[b]) for s in stop)
            if all(done):
                break
        return [_cut(self.tokenizer.decode(r), stop) for r in rows]

    def stream(
        self, prompt: str, max_new_tokens: int = 200, stop: tuple[str, ...] = (), **sampling: Any
    ) -> Iterator[str]:
        ids: list[int] = []
        shown = ""
        for step in self.tokens(prompt, max_new_tokens, 1, **sampling):
            ids.append(int(step[0]))
            text = self.tokenizer.decode(ids)
            cut = _cut(text, stop)
            if text.endswith("\ufffd") and cut == text:
                continue  # an unfinished multi-byte character
            if len(cut) > len(shown):
                yield cut[len(shown) :]
                shown = cut
            if cut != text:
                return

    # ---- the inference protocol (serving); no `step`: sessions need the PyTorch model

    def schema(self) -> dict[str, Any]:
        return records.schema(stateful=False)

    def predict_records(self, records_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return records.predict_records(self, records_)

    def predict_frame(self, frame: Any) -> Any:
        return frame_of(self.predict_records(records_of(frame)))


def _cut(text: str, stop: tuple[str, ...]) -> str:
    ends = [text.index(s) for s in stop if s and s in text]
    return text[: min(ends)] if ends else text


def load(runner: Any) -> OnnxLanguageModel:
    return OnnxLanguageModel(runner)
