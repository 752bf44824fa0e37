"""`Translator`: the Python face of the translation task: fit, evaluate (sacreBLEU, beside the copy
baseline), translate (greedy or beam search, n-best), align (attention plot), save, load, and the inference
protocol.

    from lstmkit.tasks.translate import Translator
    t = Translator(epochs=1, vocab_size=300).fit("numbers-de-en")   # numbers in words, German -> English
    t.translate(["dreihundertzweiundvierzig"])          # ['three hundred and forty-two']
    t.report["table"]                                   # BLEU / chrF: copy baseline, greedy, beam

Only `fit` touches the training engine; loading and translating import no training framework.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmkit.config import from_dict, to_dict
from lstmkit.data.parallel import Parallel, numbers_corpus, numbers_name, read_pairs, read_parallel
from lstmkit.data.timeseries import DataError
from lstmkit.deploy.protocol import Probe, RequestError, frame_of, records_of
from lstmkit.engine.config import RunConfig, TrainConfig
from lstmkit.errors import UsageError
from lstmkit.nn.state import detach_state
from lstmkit.tasks.spec import saved_run, saved_state
from lstmkit.tasks.translate import SPEC, records
from lstmkit.tasks.translate.config import DecodeConfig, TranslateConfig, decoding_with
from lstmkit.tasks.translate.decode import Hypothesis, decode_texts
from lstmkit.tasks.translate.features import BOS, EOS, Vocabularies, encode_pairs, make_batch
from lstmkit.tasks.translate.metrics import copy_baseline, corpus_scores
from lstmkit.tasks.translate.model import Seq2Seq, TorchStepper
from lstmkit.tasks.translate.task import NAME, build_model

DECODE_FIELDS = {f.name for f in dataclasses.fields(DecodeConfig)}


def split_indices(n: int, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """A seeded random split of range(n): the rest, then one part per fraction."""
    perm = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum([round(f * n) for f in fractions])
    parts = np.split(perm, cuts)
    return [np.sort(parts[-1])] + [np.sort(p) for p in parts[:-1]]


class Translator:
    """An attentional LSTM encoder-decoder: `Translator().fit(pairs).translate(["..."])`.

    Options are TranslateConfig fields (data, vocabulary, model), TrainConfig fields (epochs, lr, ...) and
    DecodeConfig fields (beam_size, length_penalty, ...: the decoding used by evaluate and translate)."""

    task = SPEC.name
    capabilities = SPEC.capabilities
    primary = True  # False after fit in a distributed run's extra processes (the first one reports)

    def __init__(
        self,
        *,
        config: TranslateConfig | None = None,
        train: TrainConfig | None = None,
        decode: DecodeConfig | None = None,
        **options: Any,
    ) -> None:
        dec = {k: options.pop(k) for k in list(options) if k in DECODE_FIELDS}
        run = SPEC.resolve(config, train, options, where="Translator")
        self.config, self.train_config = run.task, run.train
        self.decoding = decoding_with(decode or DecodeConfig(), **dec)
        self.net: Seq2Seq | None = None
        self.vocab: Vocabularies | None = None
        self.run_dir: Path | None = None
        self.report: dict[str, Any] = {}

    # ---- data

    def _read(self, data: str | Path | Parallel | None) -> Parallel:
        c = self.config
        if isinstance(data, Parallel):
            return data
        if data is None and c.src:
            return read_parallel(c.src, c.tgt)
        if data is None:
            raise UsageError(
                "no data to train on: --data PAIRS.tsv | a built-in corpus (numbers-en-de), or --src/--tgt"
            )
        langs = numbers_name(str(data))
        if langs:
            return numbers_corpus(*langs, n=c.corpus_size, seed=self.train_config.seed)
        if not Path(data).exists():
            raise DataError(f"no such file or built-in corpus: {data} (built-in: numbers-en-de, numbers-en-fr, ...)")
        return read_pairs(data, c.src_col, c.tgt_col)

    def splits(self, data: str | Path | Parallel | None = None) -> tuple[Parallel, Parallel, Parallel]:
        """(train, validation, test): the given files, else seeded random shares of the pairs."""
        c = self.config
        full = self._read(data)
        val = read_parallel(c.val_src, c.val_tgt) if c.val_src else None
        test = read_parallel(c.test_src, c.test_tgt) if c.test_src else None
        fractions = (0.0 if val else c.val_fraction, 0.0 if test else c.test_fraction)
        train_idx, val_idx, test_idx = split_indices(len(full), fractions, self.train_config.seed)
        val, test = val or full.take(val_idx), test or full.take(test_idx)
        if len(val) == 0 or len(train_idx) == 0:
            raise DataError(f"{full.source}: {len(full)} pairs leave an empty training or validation split; give more")
        return full.take(train_idx), val, test

    # ---- training and evaluation

    def fit(self, data: str | Path | Parallel | None = None) -> Translator:
        """Train on `data` (default: the config's), select on the validation pairs, then score the test pairs
        (`self.report`: BLEU/chrF of the copy baseline, greedy decoding and the configured beam search)."""
        from lstmkit.engine.trainer import fit
        from lstmkit.tasks.translate.task import TranslateTask

        if isinstance(data, (str, Path)):
            self.config = dataclasses.replace(self.config, data=str(data), src=None, tgt=None)
        train, val, test = self.splits(data if data is not None else self.config.data)
        c = self.config
        self.vocab = Vocabularies.fit(train, c.tokenizer, c.vocab_size, c.joint_vocab)
        *train_ids, dropped = encode_pairs(train, self.vocab, c.max_tokens)
        if not train_ids[0]:
            raise DataError(f"every training pair has more than --max-tokens {c.max_tokens} tokens on a side")
        val_ids = encode_pairs(val, self.vocab)[:2]
        result = fit(TranslateTask(c, self.vocab, tuple(train_ids), val_ids), self.train_config)
        self.run_dir, self.primary = result.run_dir, result.primary
        if not result.primary:
            return self  # a distributed run's extra process: the first one holds the model
        self.net, self.run_dir = result.model.eval(), result.run_dir
        self.report = self.evaluate(test) if len(test) else {}
        self.report["data"] = {
            "train": len(train),
            "kept": len(train_ids[0]),
            "dropped_long": dropped,
            "val": len(val),
            "test": len(test),
            "source": train.source,
            "src_vocab": self.vocab.src_size,
            "tgt_vocab": self.vocab.tgt_size,
        }
        self.report["val"] = {k.removeprefix("val_"): v for k, v in result.metrics.items()}
        self.report["steps"] = result.steps
        return self

    def _ready(self) -> tuple[Seq2Seq, Vocabularies]:
        if self.net is None or self.vocab is None:
            raise UsageError("this Translator is not trained: call fit(data) or lstmkit.load(path) first")
        return self.net, self.vocab

    def options(self, **overrides: Any) -> DecodeConfig:
        """The decoding settings with `overrides` (DecodeConfig fields) applied."""
        return decoding_with(self.decoding, **overrides)

    def hypotheses(self, texts: list[str], opts: DecodeConfig | None = None) -> list[list[Hypothesis]]:
        """Each text's n-best hypotheses, best first (decoded in batches of similar length)."""
        net, vocab = self._ready()
        net.eval()
        return decode_texts(TorchStepper(net), vocab, texts, opts or self.decoding)

    def translate(self, texts: str | list[str], **decode: Any) -> list[str]:
        """The best translation of each text (`decode`: DecodeConfig fields, e.g. beam_size=1)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        vocab = self._ready()[1]
        return [vocab.decode_tgt(h[0].tokens) for h in self.hypotheses(texts, self.options(**decode))]

    def nbest(self, texts: list[str], n: int, **decode: Any) -> list[list[dict[str, Any]]]:
        """Each text's n best translations with their scores, best first."""
        vocab = self._ready()[1]
        opts = self.options(**decode)
        opts = dataclasses.replace(opts, beam_size=max(opts.beam_size, n), n_best=n)
        return [
            [{"translation": vocab.decode_tgt(h.tokens), "score": h.score} for h in hyps]
            for hyps in self.hypotheses(list(texts), opts)
        ]

    def evaluate(self, data: str | Path | Parallel, decodings: dict[str, DecodeConfig] | None = None) -> dict[str, Any]:
        """sacreBLEU and chrF on `data` (pairs) for each decoding (default: greedy and the configured beam),
        beside the copy baseline, with sentences/s."""
        pairs = self._read(data)
        decodings = decodings or self.default_decodings()
        rows = [{"method": "copy (source as output)", **_brief(copy_baseline(pairs.src, pairs.tgt))}]
        outputs = {}
        for name, opts in decodings.items():
            start = time.perf_counter()
            hyps = [self._ready()[1].decode_tgt(h[0].tokens) for h in self.hypotheses(pairs.src, opts)]
            seconds = time.perf_counter() - start
            scores = corpus_scores(hyps, pairs.tgt)
            rows.append({"method": name, **_brief(scores), "sentences_per_s": round(len(hyps) / seconds, 1)})
            outputs[name] = {"scores": scores, "hypotheses": hyps}
        best = max(outputs, key=lambda k: outputs[k]["scores"]["bleu"])
        return {
            "table": rows,
            "test": outputs[best]["scores"],
            "best": best,
            "outputs": outputs,
            "split": pairs.source,
            "n": len(pairs),
        }

    def default_decodings(self, beam: DecodeConfig | None = None) -> dict[str, DecodeConfig]:
        """Greedy, and `beam` (default: the configured decoding) when it is a beam search."""
        beam = beam or self.decoding
        greedy = dataclasses.replace(beam, beam_size=1, n_best=1)
        if beam.beam_size == 1:
            return {"greedy": greedy}
        return {"greedy": greedy, f"beam {beam.beam_size} ({_penalties(beam)})": beam}

    def align(self, text: str, out: str | Path, **decode: Any) -> tuple[Path, str]:
        """The attention of the best translation of `text` as a heat map (PNG): source pieces across, target
        pieces down. Returns the file and the translation."""
        from lstmkit.tasks.translate.plots import plot_alignment

        vocab = self._ready()[1]
        hyp = self.hypotheses([text], self.options(**decode))[0][0]
        src = vocab.src_pieces(vocab.encode_src(text))
        tgt = vocab.tgt_pieces(hyp.tokens + [EOS])
        return plot_alignment(hyp.attention, src, tgt, out), vocab.decode_tgt(hyp.tokens)

    # ---- the inference protocol (deploy.protocol)

    def schema(self) -> dict[str, Any]:
        return records.schema(to_dict(self.decoding))

    def predict_records(self, records_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return records.predict_records(self, records_)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame_of(self.predict_records(records_of(frame)))

    def probe(self, inputs: dict[str, Any] | None = None) -> Probe:
        """The encoder reading one source sentence (`inputs["text"]`), labelled by its pieces; the loss is the
        model's cross-entropy of its own greedy translation given the encoder's output as memory (the
        decoder's initial state held fixed)."""
        net, vocab = self._ready()
        if not inputs or "text" not in inputs:
            raise RequestError("a translator's probe reads one source sentence: pass --text TEXT")
        ids = vocab.encode_src(inputs["text"])
        batch = make_batch([ids])
        src, lengths = batch["src"], batch["src_lengths"]
        e = net.src_embed(src).detach()  # (1, S, E): what the encoder reads
        hyp = self.hypotheses([inputs["text"]], dataclasses.replace(self.decoding, beam_size=1, n_best=1))[0][0]
        tgt = make_batch([[BOS, *hyp.tokens, EOS]])["src"]  # BOS y EOS, (1, T+2)
        _, state = net.encode(src, lengths)
        state = detach_state(state)

        def loss_of_output(out: torch.Tensor) -> torch.Tensor:
            return net.teacher_forced_loss(out, lengths, state, tgt)

        return Probe(
            net.encoder,
            e,
            lengths,
            loss_of_output,
            [vocab.src_pieces(ids)],
            "the cross-entropy of the model's own translation",
        )

    def save(self, path: str | Path) -> Path:
        from lstmkit.deploy.saved_model import save_model

        net, vocab = self._ready()
        return save_model(
            path,
            task=NAME,
            config=RunConfig(self.config, self.train_config).to_dict(),
            tensors=net.state_dict(),
            state={"vocab": vocab.to_dict(), "decode": to_dict(self.decoding)},
        )


def _brief(scores: dict[str, Any]) -> dict[str, Any]:
    return {"bleu": scores["bleu"], "chrf": scores["chrf"], "exact": scores["exact"]}


def _penalties(opts: DecodeConfig) -> str:
    parts = [
        {"none": "no length penalty", "avg": "length-averaged", "wu": f"Wu alpha {opts.alpha:g}"}[opts.length_penalty]
    ]
    if opts.coverage_penalty:
        parts.append(f"coverage beta {opts.coverage_penalty:g}")
    if opts.block_ngram:
        parts.append(f"no repeated {opts.block_ngram}-grams")
    return ", ".join(parts)


def load_saved(saved: Any, device: torch.device) -> Translator:
    """Rebuild a Translator exactly as it was trained (the saved-model loader of this task)."""
    from lstmkit.deploy.saved_model import load_weights

    cfg, train = saved_run(saved, TranslateConfig)
    decode = from_dict(DecodeConfig, saved.state.get("decode", {}), where=f"{saved.path}/decode.json")
    t = Translator(config=cfg, train=train, decode=decode)
    t.vocab = Vocabularies.from_dict(saved_state(saved, "vocab", "the source and target tokenizers"))
    t.net = load_weights(build_model(cfg, t.vocab), saved).to(device).eval()
    return t
