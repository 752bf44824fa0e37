"""`LanguageModel`: fit, evaluate, generate (and stream), save, load. Only `fit` touches the training engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lstmkit.config import ConfigError
from lstmkit.data.text import Corpus, evaluation_text, load_corpus
from lstmkit.data.tokenizers import BPETokenizer, CharTokenizer, tokenizer_from_dict
from lstmkit.deploy.protocol import ModelState, Probe, RequestError, check, frame_of, records_of
from lstmkit.engine.config import RunConfig, TrainConfig
from lstmkit.errors import UsageError
from lstmkit.tasks.lm import SPEC, records
from lstmkit.tasks.lm.config import LanguageConfig
from lstmkit.tasks.lm.model import LanguageNet
from lstmkit.tasks.lm.predictor import LanguagePredictor
from lstmkit.tasks.lm.task import NAME, build_model
from lstmkit.tasks.spec import saved_run, saved_state


class TorchLanguageNetwork:
    """The predictor's network interface over the PyTorch LanguageNet (numpy in and out, no gradients); the
    state is the LSTM's own (h, c), kept on the network's device."""

    def __init__(self, net: LanguageNet) -> None:
        self.net = net.eval()
        self.device = next(net.parameters()).device

    @torch.no_grad()
    def read(self, ids: np.ndarray, state: Any | None) -> tuple[np.ndarray, Any]:
        logits, hx = self.net(torch.from_numpy(np.ascontiguousarray(ids)).to(self.device), state)  # (B, T, V)
        return logits.float().cpu().numpy(), hx


class LanguageModel:
    """An LSTM language model: `LanguageModel(tokenizer="char").fit("shakespeare").generate("ROMEO:")`.

    Options are LanguageConfig fields (corpus, tokenizer, architecture) and TrainConfig fields (epochs, lr, ...).
    """

    task = SPEC.name
    capabilities = SPEC.capabilities
    primary = True  # False after fit in a distributed run's extra processes (the first one reports)

    def __init__(self, *, config: LanguageConfig | None = None, train: TrainConfig | None = None, **options: Any):
        run = SPEC.resolve(config, train, options, where="LanguageModel")
        self.config, self.train_config = run.task, run.train
        self.net: LanguageNet | None = None
        self.tokenizer: CharTokenizer | BPETokenizer | None = None
        self.run_dir: Path | None = None
        self.fit_metrics: dict[str, float] = {}
        self.corpus: Corpus | None = None

    def fit(self, text: str | None = None) -> LanguageModel:
        """Train on a file, a folder or `shakespeare` (default: the config's `text`); the held-out test text
        (`heldout()`) is kept apart from training and selection."""
        source = text or self.config.text
        if not source:
            raise ConfigError("no text to train on: pass a file, a folder or 'shakespeare' (--text)")
        self.config = dataclasses.replace(self.config, text=source)
        return self.fit_corpus(load_corpus(source, self.config.val_text))

    def fit_corpus(self, corpus: Corpus) -> LanguageModel:
        """Train on given train/validation text (the test text is left for `evaluate`)."""
        from lstmkit.engine.trainer import fit
        from lstmkit.tasks.lm.task import LanguageTask

        task = LanguageTask(self.config, corpus, self.train_config.batch_size)
        result = fit(task, self.train_config)
        self.run_dir, self.primary = result.run_dir, result.primary
        if not result.primary:
            return self  # a distributed run's extra process: the first one holds the model
        self.net, self.tokenizer, self.run_dir = result.model.eval(), task.tokenizer, result.run_dir
        self.fit_metrics, self.corpus = result.metrics, corpus
        return self

    def heldout(self) -> dict[str, Any]:
        """Metrics on the held-out test text of the corpus it was trained on, and which text that is."""
        if self.corpus is None:
            raise UsageError("held-out metrics need the training corpus: call fit() first (or evaluate(text))")
        return {**self.evaluate(self.corpus.test), "split": self.corpus.source}

    def _ready(self) -> tuple[LanguageNet, CharTokenizer | BPETokenizer]:
        if self.net is None or self.tokenizer is None:
            raise UsageError("this LanguageModel is not trained: call fit(...) or lstmkit.load(path) first")
        return self.net, self.tokenizer

    @property
    def predictor(self) -> LanguagePredictor:
        """Evaluation and generation over this PyTorch network (the code the ONNX runtime runs too)."""
        net, tok = self._ready()
        return LanguagePredictor(TorchLanguageNetwork(net), tok, stateful=True)

    def evaluate(self, text: str, chunk: int = 256, progress: Any = None, adapt: Any = None) -> dict[str, float]:
        """Loss over the whole text in one carried-state pass: nats per token, bits per character, perplexity
        (per token and per character, so char and BPE models compare); `progress(done, total)` per chunk.
        `adapt` (an AdaptConfig): dynamic evaluation, a copy of the network learning from each segment after
        scoring it (adapt.py); the model itself is unchanged."""
        if adapt is None:
            return self.predictor.evaluate(text, chunk, progress)
        from lstmkit.tasks.lm.adapt import dynamic_nll
        from lstmkit.tasks.lm.predictor import summary

        net, tok = self._ready()
        ids = tok.encode(text)
        if len(ids) < 2:
            raise UsageError("the evaluation text needs at least 2 tokens")
        total = dynamic_nll(net, np.asarray(ids), adapt, progress)
        return {**summary(total, len(ids) - 1, len(tok.decode(ids[1:]))), "adapted": dataclasses.asdict(adapt)}

    def evaluate_file(self, path: str, progress: Any = None, adapt: Any = None) -> dict[str, float]:
        """A whole file (all of it), or shakespeare's test plays."""
        return self.evaluate(evaluation_text(path), progress=progress, adapt=adapt)

    def stream(
        self, prompt: str, max_new_tokens: int = 200, stop: tuple[str, ...] = (), **sampling: Any
    ) -> Iterator[str]:
        """Yield the generated text piece by piece as tokens are produced (one sample)."""
        return self.predictor.stream(prompt, max_new_tokens, stop, **sampling)

    def generate(
        self, prompt: str, max_new_tokens: int = 200, num_samples: int = 1, stop: tuple[str, ...] = (), **sampling: Any
    ) -> list[str]:
        """`num_samples` continuations of `prompt`, generated together in one batch (the prompt read once, then
        one cached-state step per token)."""
        return self.predictor.generate(prompt, max_new_tokens, num_samples, stop, **sampling)

    # ---- the inference protocol (deploy.protocol): what serving and export call

    def schema(self) -> dict[str, Any]:
        return records.schema(stateful=True)

    def predict_records(self, records_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each {"prompt": ..., sampling options} -> {"prompt", "completion"} (default: 100 tokens, T 0.8)."""
        return records.predict_records(self, records_)

    def predict_frame(self, frame: Any) -> Any:
        return frame_of(self.predict_records(records_of(frame)))

    def initial_state(self) -> ModelState:
        """Nothing read yet: a zero LSTM state and no prediction for the first token."""
        return ModelState({}, {"task": NAME, "tokens": 0})

    @torch.no_grad()
    def step(self, state: ModelState, inputs: dict[str, Any]) -> tuple[dict[str, Any], ModelState]:
        """Read `inputs["text"]` after what `state` has read: its log-probability (of every token the state
        could predict) and the 5 likeliest next tokens; the state passed in is left as it was."""
        check(inputs, self.schema()["step_input"], "inputs")
        net, tok = self._ready()
        if state.meta.get("task") != NAME:
            raise RequestError(f"this state is not a language model's (task {state.meta.get('task')!r})")
        ids = tok.encode(inputs["text"])
        if not ids:
            raise RequestError("inputs.text encodes to no tokens")
        t = state.tensors
        logits, hx = net(torch.tensor(ids)[None], _hx_of(t, net))  # (1, N, V)
        logp = torch.log_softmax(logits[0].float(), -1)  # (N, V)
        prev = torch.log_softmax(t["logits"].float(), -1)[None] if "logits" in t else logp[:0]  # (0|1, V)
        scored = torch.cat([prev, logp[:-1]])  # the distribution each fed token was drawn from
        targets = torch.tensor(ids[len(ids) - len(scored) :])
        total = float(scored.gather(1, targets[:, None]).sum())
        probs, top = logp[-1].exp().topk(min(5, logp.shape[-1]))
        nxt = [{"token": tok.decode([int(i)]), "prob": float(p)} for p, i in zip(probs, top)]
        new = ModelState(
            {**_tensors_of(hx), "logits": logits[0, -1]}, {"task": NAME, "tokens": state.meta["tokens"] + len(ids)}
        )
        return {"tokens": len(ids), "logprob": total, "next": nxt}, new

    def step_inputs(self, records: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
        """A session's records ({"text": ...} each) as one step reading their texts in order."""
        for i, r in enumerate(records):
            check(r, self.schema()["step_input"], f"data[{i}]")
        return {"text": "".join(r["text"] for r in records)}

    def probe(self, inputs: dict[str, Any] | None = None) -> Probe:
        """The LSTM reading a text (`inputs["text"]`, default: 300 tokens the model writes itself, greedy),
        each step labelled by its token; the loss is the next-token negative log-likelihood."""
        net, tok = self._ready()
        text = (inputs or {}).get("text") or self.generate("\n", 300, temperature=0)[0]
        ids = torch.tensor(tok.encode(text))[None]  # (1, N)
        if ids.shape[1] < 2:
            raise RequestError("the text to inspect needs at least 2 tokens")
        x = net.embedding(ids).detach()  # (1, N, E)

        def loss_of_output(out: Tensor) -> Tensor:
            logits = net.logits(out)[:, :-1]  # (1, N-1, V)
            return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[0, 1:])

        labels = [[tok.decode([int(i)]) for i in ids[0]]]
        return Probe(net.rnn, x, None, loss_of_output, labels, "next-token loss")

    def save(self, path: str | Path) -> Path:
        from lstmkit.deploy.saved_model import save_model

        net, tok = self._ready()
        resolved = RunConfig(self.config, self.train_config).to_dict()  # the same document the engine saves
        return save_model(
            path, task=NAME, config=resolved, tensors=net.state_dict(), state={"tokenizer": tok.to_dict()}
        )


def _tensors_of(hx: Any) -> dict[str, Tensor]:
    """A recurrent state as named tensors: the LSTM's (h, c) as "h", "c" (as every saved session has them); a
    modern cell's named state by its fields ("state_C", "state_n", ...)."""
    if hasattr(hx, "_fields"):
        return {f"state_{f}": v for f, v in zip(hx._fields, hx)}
    h, c = hx if isinstance(hx, tuple) else (hx, None)
    return {"h": h} if c is None else {"h": h, "c": c}


def _hx_of(t: dict[str, Tensor], net: LanguageNet) -> Any:
    """The recurrent state stored by `_tensors_of` (None: nothing read yet)."""
    kind = getattr(net.rnn, "state_type", None)
    if kind is not None:
        return kind(*(t[f"state_{f}"] for f in kind._fields)) if f"state_{kind._fields[0]}" in t else None
    if "h" not in t:
        return None
    return (t["h"], t["c"]) if "c" in t else t["h"]


def load_saved(saved: Any, device: torch.device) -> LanguageModel:
    """Rebuild a LanguageModel exactly as it was trained (the saved-model loader of this task)."""
    from lstmkit.deploy.saved_model import load_weights

    cfg, train = saved_run(saved, LanguageConfig)
    if "slstm_forget" not in saved.config["task"]:  # saved before the option: the sLSTM had the exponential gate
        cfg = dataclasses.replace(cfg, slstm_forget="exp")
    lm = LanguageModel(config=cfg, train=train)
    lm.tokenizer = tokenizer_from_dict(saved_state(saved, "tokenizer", "the tokenizer"))
    lm.net = load_weights(build_model(cfg, lm.tokenizer.vocab_size), saved).to(device).eval()
    return lm
