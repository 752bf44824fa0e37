"""The classification task's config: what to read, how to tokenize, the model. Training settings live in
TrainConfig."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from lstmkit.config import ConfigError, option

if TYPE_CHECKING:
    from lstmkit.data.labelled import LabelSpec


@dataclass(frozen=True)
class ClassifyConfig:
    """Classification of texts or numeric sequences: data, tokenizer, the (Bi)LSTM and its pooling."""

    data: str | None = option(
        None,
        "CSV/TSV/Parquet/JSONL, a folder of class sub-folders, .npz, or a built-in dataset (trump-tweets, digits)",
        metavar="PATH|DATASET",
    )
    text_col: str = option("text", "the text column (absent: the other columns are the time steps)", metavar="COL")
    label_col: str = option("label", "the label column", metavar="COL")
    label_sep: str | None = option(
        None, "multi-label: the label column holds several classes separated by this (e.g. '|' or ',')", metavar="SEP"
    )
    label_cols: str | None = option(
        None, "multi-label: comma-separated 0/1 columns, one per class (instead of --label-col)", metavar="A,B,..."
    )
    threshold: float = option(0.5, "multi-label: a class is predicted when its probability reaches this")
    test_data: str | None = option(None, "a separate test file (default: a stratified share of --data)", metavar="PATH")
    val_fraction: float = option(0.1, "share of the training data held out to select the weights")
    test_fraction: float = option(0.1, "share held out as the test set when no --test-data is given")
    folds: int = option(
        -1,
        "cross-validate with this many folds instead of holding out a test split (-1: 5 folds when the test "
        "split would hold fewer than 30 examples, too few to say anything; 0: never)",
    )
    split_seed: int | None = option(
        None,
        "seed of the validation/test split and of the cross-validation folds (default: --seed); fixed while "
        "--seed varies, runs differ only in their weights and data order (seed ensembles, seed spread)",
    )
    tokenizer: Literal["bpe", "char", "word"] = option(
        "bpe", "texts: byte-level BPE, characters, or lower-cased words (what --vectors need)"
    )
    vocab_size: int = option(8000, "BPE vocabulary size")
    max_length: int = option(256, "texts: tokens kept per example (the first ones)")
    embedding_size: int = option(128, "token embedding size (texts) or input projection size (numbers)")
    cell: Literal["lstm", "gru", "rnn", "slstm", "mlstm", "minlstm", "mingru"] = option(
        "lstm", "recurrent cell: the classic lstm, gru, rnn, or the modern slstm, mlstm, minlstm, mingru"
    )
    hidden_size: int = option(128, "LSTM hidden units per direction")
    num_layers: int = option(1, "stacked LSTM layers")
    bidirectional: bool = option(True, "read each sequence both ways")
    pooling: Literal["last", "max", "mean", "attention"] = option(
        "max", "how the steps become one vector: the last step(s), max or mean over steps, or learned attention"
    )
    conv: Literal["auto", "on", "off"] = option(
        "auto",
        "a convolutional branch beside the LSTM (LSTM-FCN: three conv blocks, global average pooling); "
        "auto: on for numeric sequences, off for texts",
    )
    ngrams: Literal["auto", "on", "off"] = option(
        "auto",
        "texts: NB-weighted word uni+bigram logistic regression (NBSVM) beside the network, its share chosen on "
        "validation; auto: on for single-label texts (needs scikit-learn, the data extra)",
    )
    conv_filters: int = option(128, "filters of the convolutional branch (its middle block has twice as many)")
    dropout: float = option(0.3, "dropout on the embeddings and before the classifier")
    epoch_size: int = option(
        4096,
        "numbers: an epoch serves at least this many examples (a small training set is passed over several "
        "times, freshly augmented), so few examples still get enough steps between validations",
    )
    augment: bool = option(True, "numbers: window slicing and jitter on training examples (new ones each pass)")
    class_weights: bool = option(False, "weight the loss by inverse class frequency (imbalanced classes)")
    normalize: bool = option(True, "numbers: standardise each feature with the training data's mean and std")
    series_norm: Literal["auto", "on", "off"] = option(
        "auto",
        "numbers: z-normalise each series by its own mean and std, its level and log-scale kept as extra "
        "features (shape apart from amplitude); auto: on when the training series' scales differ more than "
        "100-fold (e.g. appliance currents), off for sets already normalised series by series",
    )
    init_from: str | None = option(
        None,
        "texts: start from a language model trained with `lstmkit lm train` "
        "(its tokenizer, embedding and LSTM; ULMFiT-style transfer)",
        metavar="RUN",
    )
    vectors: str | None = option(
        None,
        "texts: initialise the embedding from word vectors in a local text file "
        "(word2vec or GloVe text format, .gz allowed; implies --tokenizer word and the "
        "vectors' size)",
        metavar="FILE",
    )
    pretrained_lr: float = option(
        0.3, "with --init-from/--vectors: learning-rate factor of the pretrained layers (discriminative fine-tuning)"
    )
    freeze_epochs: int = option(
        1,
        "with --init-from/--vectors: epochs that train only the new layers before the "
        "pretrained ones are unfrozen (gradual unfreezing)",
    )

    def __post_init__(self) -> None:
        if not 0 < self.val_fraction < 0.5 or not 0 <= self.test_fraction < 0.5:
            raise ConfigError("val_fraction must be in (0, 0.5) and test_fraction in [0, 0.5)")
        if self.folds < -1 or self.folds == 1:
            raise ConfigError(f"folds must be -1 (auto), 0 (off) or >= 2, got {self.folds}")
        if self.epoch_size < 0:
            raise ConfigError(f"epoch_size must be >= 0, got {self.epoch_size}")
        if self.conv_filters < 1:
            raise ConfigError(f"conv_filters must be >= 1, got {self.conv_filters}")
        if self.max_length < 1 or self.hidden_size < 1 or self.num_layers < 1 or self.embedding_size < 1:
            raise ConfigError("max_length, hidden_size, num_layers and embedding_size must be >= 1")
        if self.label_sep is not None and self.label_cols:
            raise ConfigError(
                "give --label-sep (one column of several classes) or --label-cols (0/1 columns), not both"
            )
        if self.vectors and self.init_from:
            raise ConfigError("give --vectors (word vectors) or --init-from (a language model), not both")
        if self.label_sep == "":
            raise ConfigError("--label-sep must not be empty")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    def resolved(self, kind: str) -> ClassifyConfig:
        """This config with `conv: auto` decided for the data's kind ("text" or "numeric"): what is saved."""
        if self.conv != "auto":
            return self
        return replace(self, conv="on" if kind == "numeric" else "off")

    def split_seed_or(self, seed: int) -> int:
        """The seed that splits the data: `split_seed` when given, else the run's `seed`."""
        return seed if self.split_seed is None else self.split_seed

    def label_spec(self) -> LabelSpec:
        """Where the labels are, as the readers take it."""
        from lstmkit.data.labelled import LabelSpec

        cols = tuple(c.strip() for c in self.label_cols.split(",") if c.strip()) if self.label_cols else ()
        return LabelSpec(self.label_col, self.label_sep, cols)
