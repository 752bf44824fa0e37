"""The tagging task's config: what to read (tokens or a numeric series) and the tagger. Training settings live in
TrainConfig."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lstmkit.config import ConfigError, option


@dataclass(frozen=True)
class TagConfig:
    """Sequence labelling: the data, how tokens or values become inputs, the BiLSTM and its optional CRF."""

    data: str | None = option(
        None,
        "a CoNLL-style file (a token and its tag per line, a blank line between sentences), a CSV/Parquet series "
        "with a per-step flag column, or a built-in dataset (lstmkit datasets: ecg-anomalies, yahoo-anomalies)",
        metavar="PATH|DATASET",
    )
    val_data: str | None = option(
        None, "a separate validation file (default: a seeded share of --data)", metavar="PATH"
    )
    test_data: str | None = option(None, "a separate test file (default: a seeded share of --data)", metavar="PATH")
    val_fraction: float = option(0.1, "share of --data held out to select the weights (sentences or series windows)")
    test_fraction: float = option(0.1, "share held out as the test set when no --test-data is given")
    format: Literal["auto", "conll", "table"] = option(
        "auto", "conll (tokens), table (CSV/Parquet series); auto: by the file's extension"
    )
    token_col: int = option(0, "CoNLL: the column of the token (0: the first)")
    tag_col: int = option(-1, "CoNLL: the column of the tag (-1: the last)")
    flag_col: str = option("label", "series: the per-step label column", metavar="COL")
    id_col: str = option("unique_id", "series: the series id column, when the file holds several", metavar="COL")
    value_cols: str | None = option(
        None, "series: comma-separated value columns (default: every numeric column but the label)", metavar="A,B"
    )
    scale: Literal["window", "global"] = option(
        "window", "series: standardise each window by its own median and spread (window) or by the training data's"
    )
    window: int = option(100, "series: steps per window the tagger reads (long series are cut into windows)")
    min_freq: int = option(2, "tokens: words seen fewer times in training are unknown (their suffix and shape remain)")
    embedding_size: int = option(64, "word embedding size (tokens) or input projection size (series)")
    cell: Literal["lstm", "gru", "rnn", "slstm", "mlstm", "minlstm", "mingru"] = option(
        "lstm", "recurrent cell: the classic lstm, gru, rnn, or the modern slstm, mlstm, minlstm, mingru"
    )
    hidden_size: int = option(128, "LSTM hidden units per direction")
    num_layers: int = option(1, "stacked LSTM layers")
    bidirectional: bool = option(True, "read each sequence both ways (a tag sees the steps after it)")
    dropout: float = option(0.3, "dropout on the inputs and before the tag scores")
    crf: bool = option(False, "a CRF layer: tags decoded jointly (Viterbi) with learned transition scores")
    class_weights: Literal["auto", "on", "off"] = option(
        "auto", "weight the loss by inverse tag frequency; auto: on for series (rare flags), off for tokens"
    )

    def __post_init__(self) -> None:
        if not 0 < self.val_fraction < 0.5 or not 0 <= self.test_fraction < 0.5:
            raise ConfigError("val_fraction must be in (0, 0.5) and test_fraction in [0, 0.5)")
        if min(self.window, self.hidden_size, self.num_layers, self.embedding_size, self.min_freq) < 1:
            raise ConfigError("window, hidden_size, num_layers, embedding_size and min_freq must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
