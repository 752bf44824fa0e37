"""The translation task's configs: what to read, how to tokenize, the encoder-decoder (TranslateConfig), and
how to decode (DecodeConfig: given to train, evaluate and predict alike). Training settings live in
TrainConfig."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lstmkit.config import ConfigError, option


@dataclass(frozen=True)
class TranslateConfig:
    """Encoder-decoder translation: parallel data, subword vocabularies, the BiLSTM encoder and the attentional
    LSTM decoder."""

    data: str | None = option(
        None,
        "a TSV of pairs (source<TAB>target), a CSV/Parquet/JSONL table with --src-col and "
        "--tgt-col, or a built-in corpus (numbers-en-de, numbers-en-fr, ...)",
        metavar="PATH|DATASET",
    )
    src: str | None = option(None, "training source sentences, one per line (.gz allowed); with --tgt", metavar="FILE")
    tgt: str | None = option(None, "training target sentences, line-aligned with --src", metavar="FILE")
    val_src: str | None = option(
        None, "validation source file (default: a share of the training pairs)", metavar="FILE"
    )
    val_tgt: str | None = option(None, "validation target file, line-aligned with --val-src", metavar="FILE")
    test_src: str | None = option(None, "test source file (default: a share of the training pairs)", metavar="FILE")
    test_tgt: str | None = option(None, "test target file, line-aligned with --test-src", metavar="FILE")
    src_col: str = option("src", "tables: the source column", metavar="COL")
    tgt_col: str = option("tgt", "tables: the target column", metavar="COL")
    val_fraction: float = option(0.05, "share of the pairs held out for validation when no --val-src is given")
    test_fraction: float = option(0.05, "share of the pairs held out as the test set when no --test-src is given")
    corpus_size: int = option(30_000, "built-in numbers corpora: pairs generated")
    tokenizer: Literal["bpe", "char"] = option(
        "bpe", "subwords: byte-level BPE (Hugging Face tokenizers) or characters"
    )
    joint_vocab: bool = option(
        True, "one BPE vocabulary for both languages (shared subwords, e.g. names); --no-joint-vocab: one per side"
    )
    vocab_size: int = option(8000, "BPE vocabulary size (joint, or per side)")
    max_tokens: int = option(
        100, "training pairs with more tokens than this on either side are dropped (counted and reported)"
    )
    embedding_size: int = option(256, "token embedding size (both sides)")
    cell: Literal["lstm", "gru", "rnn", "slstm", "mlstm", "minlstm", "mingru"] = option(
        "lstm",
        "the encoder's and the decoder's recurrent cell: the classic lstm, gru, rnn, or the modern slstm, mlstm, "
        "minlstm, mingru (ONNX export: lstm)",
    )
    hidden_size: int = option(256, "recurrent hidden units (the encoder's per direction, the decoder's)")
    num_layers: int = option(1, "stacked recurrent layers in the encoder and the decoder")
    attention: Literal["general", "dot", "bahdanau"] = option(
        "general", "attention score: Luong general (q·W m), Luong dot (q·m) or Bahdanau's additive MLP"
    )
    input_feed: bool = option(True, "feed each step's attentional vector into the next step (Luong et al. 2015)")
    tie_embeddings: bool = option(True, "the output layer shares the target embedding's weights (Press & Wolf 2017)")
    dropout: float = option(0.3, "dropout on embeddings, between layers and on the attentional vector")
    label_smoothing: float = option(0.1, "label smoothing of the training loss (Szegedy et al. 2016)")
    weight_drop: float = option(0.0, "DropConnect on the encoder's recurrent weights (the core's AWD variant)")

    def __post_init__(self) -> None:
        if (self.src is None) != (self.tgt is None):
            raise ConfigError("give both --src and --tgt (line-aligned files), or neither")
        if self.data and self.src:
            raise ConfigError("give --data (pairs in one file or a built-in corpus) or --src/--tgt, not both")
        for a, b in (("val_src", "val_tgt"), ("test_src", "test_tgt")):
            if (getattr(self, a) is None) != (getattr(self, b) is None):
                raise ConfigError(f"give both --{a.replace('_', '-')} and --{b.replace('_', '-')}, or neither")
        if not 0 < self.val_fraction < 0.5 or not 0 <= self.test_fraction < 0.5:
            raise ConfigError("val_fraction must be in (0, 0.5) and test_fraction in [0, 0.5)")
        if min(self.embedding_size, self.hidden_size, self.num_layers, self.max_tokens, self.vocab_size) < 1:
            raise ConfigError("embedding_size, hidden_size, num_layers, max_tokens and vocab_size must be >= 1")
        if not 0 <= self.dropout < 1 or not 0 <= self.label_smoothing < 1 or not 0 <= self.weight_drop < 1:
            raise ConfigError("dropout, label_smoothing and weight_drop must be in [0, 1)")
        if self.corpus_size < 100:
            raise ConfigError(f"corpus_size must be >= 100, got {self.corpus_size}")


@dataclass(frozen=True)
class DecodeConfig:
    """How a translation is searched for: greedy or beam search, and the beam's penalties and limits."""

    beam_size: int = option(5, "hypotheses kept per sentence (1: greedy decoding)")
    n_best: int = option(1, "translations returned per sentence, best first (<= --beam-size)")
    # wu + coverage 0.2: the best of five decodings on Multi30k's validation split (BENCHMARKS.md, translate)
    length_penalty: Literal["none", "avg", "wu"] = option(
        "wu",
        "normalise a finished hypothesis's log-probability: none, by its length (avg), or by Wu et al.'s "
        "((5 + length) / 6) ** alpha",
    )
    alpha: float = option(0.6, "the Wu length penalty's exponent")
    coverage_penalty: float = option(
        0.2,
        "Wu et al.'s coverage penalty weight beta: beta * sum over source tokens "
        "of log(min(attention received, 1)) (0: off)",
    )
    block_ngram: int = option(0, "never repeat an n-gram of this size within a hypothesis (0: off)")
    min_length: int = option(0, "tokens generated before the end of sentence may come")
    max_length: int = option(200, "tokens generated at most")
    max_length_ratio: float = option(2.0, "and at most this x the source tokens + 10 (0: only --max-length)")

    def __post_init__(self) -> None:
        if self.beam_size < 1 or not 1 <= self.n_best <= self.beam_size:
            raise ConfigError(
                f"beam_size must be >= 1 and n_best in [1, beam_size]; got {self.beam_size}, {self.n_best}"
            )
        if self.max_length < 1 or self.min_length < 0 or self.min_length >= self.max_length:
            raise ConfigError("max_length must be >= 1 and min_length in [0, max_length)")
        if self.alpha < 0 or self.coverage_penalty < 0 or self.block_ngram < 0 or self.max_length_ratio < 0:
            raise ConfigError("alpha, coverage_penalty, block_ngram and max_length_ratio must be >= 0")

    def length_limit(self, src_tokens: int) -> int:
        """Tokens a translation of a `src_tokens`-token sentence may have (its end of sentence included)."""
        if self.max_length_ratio <= 0:
            return self.max_length
        return max(self.min_length + 1, min(self.max_length, int(self.max_length_ratio * src_tokens) + 10))


def decoding_with(base: DecodeConfig, **overrides: object) -> DecodeConfig:
    """`base` with `overrides` (DecodeConfig fields; None leaves a field alone), checked and typed."""
    import dataclasses

    from lstmkit.config import from_dict, to_dict

    known = {f.name for f in dataclasses.fields(DecodeConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown decoding option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return from_dict(DecodeConfig, {**to_dict(base), **given}, where="decoding options")
