"""The language-model task's config: corpus, tokenizer, architecture, AWD-style regularisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lstmkit.config import ConfigError, option


@dataclass(frozen=True)
class LanguageConfig:
    """Language modelling: what to read, how to tokenize, the LSTM and its regularisation."""

    text: str | None = option(
        None, "a UTF-8 file or folder (split 90/5/5 in order), or shakespeare", metavar="PATH|shakespeare"
    )
    val_text: str | None = option(
        None,
        "held-out UTF-8 file: its first half validates, its second half is the "
        "reported test text; --text then trains in full",
        metavar="PATH",
    )
    tokenizer: Literal["char", "bpe"] = option("char", "characters (with byte fallback) or byte-level BPE")
    vocab_size: int = option(2000, "BPE vocabulary size (char: the characters of the training text)")
    embedding_size: int = option(128, "token embedding size (= the decoder's input when weights are tied)")
    cell: Literal["lstm", "gru", "rnn", "slstm", "mlstm", "minlstm", "mingru"] = option(
        "lstm",
        "recurrent cell: the classic lstm, gru, rnn, or the modern slstm, mlstm, minlstm, mingru (the AWD "
        "dropouts inside the layer apply to the classic cells; hidden_dropout is the modern ones' between layers)",
    )
    slstm_forget: Literal["exp", "sigmoid"] = option(
        "sigmoid",
        "the sLSTM's forget gate: sigmoid, or xLSTM's exponential one, whose stabiliser outgrows the input gate "
        "over a language model's endless carried stream (tinyshakespeare, 30 min: 1.68 vs 2.37 nats/char)",
    )
    hidden_size: int = option(512, "LSTM hidden units")
    num_layers: int = option(2, "stacked LSTM layers")
    tie_weights: bool = option(True, "share the embedding and the decoder (a projection maps hidden -> embedding)")
    embedding_dropout: float = option(0.0, "drop whole tokens' embeddings (AWD dropoute)")
    input_dropout: float = option(0.1, "locked dropout on the embeddings fed to the LSTM (AWD dropouti)")
    hidden_dropout: float = option(0.1, "locked dropout between LSTM layers (AWD dropouth)")
    output_dropout: float = option(0.1, "locked dropout on the last LSTM output (AWD dropout)")
    weight_drop: float = option(0.0, "DropConnect on the recurrent weights (AWD wdrop; 0.5 for word-level)")
    bptt: int = option(128, "truncated BPTT length in tokens (the state is carried across batches)")
    variable_bptt: bool = option(True, "vary the BPTT length per batch as AWD-LSTM does (mean bptt)")
    eval_columns: int = option(8, "parallel streams when validating during training (the final score uses 1)")

    def __post_init__(self) -> None:
        for name in ("embedding_dropout", "input_dropout", "hidden_dropout", "output_dropout", "weight_drop"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.bptt < 2:
            raise ConfigError(f"bptt must be >= 2, got {self.bptt}")
        if self.tokenizer == "bpe" and self.vocab_size < 300:
            raise ConfigError(
                f"vocab_size must be >= 300 for byte-level BPE (256 bytes + merges), got {self.vocab_size}"
            )


@dataclass(frozen=True)
class AdaptConfig:
    """Dynamic evaluation's settings. Defaults chosen on the first 20k characters of Pride and Prejudice with a
    tinyshakespeare LSTM (BENCHMARKS.md `lm-10min-adapt` reports on the 90 % after the first 10 %)."""

    lr: float = option(1e-3, "step size of the per-segment update (RMS-scaled, so about the weights' change per step)")
    segment: int = option(100, "tokens scored before each update (shorter: faster adaptation, slower evaluation)")
    decay: float = option(1e-3, "share of the way back to the trained weights after each update (0: none)")

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.segment < 1 or not 0 <= self.decay < 1:
            raise ConfigError(f"dynamic evaluation needs lr > 0, segment >= 1 and 0 <= decay < 1, got {self}")
