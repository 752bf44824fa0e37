"""Tokenizers for language models, saved with the model as JSON.

- `CharTokenizer`: one id per character seen in training, plus `<unk>` and 256 byte tokens: a character
  outside the vocabulary is encoded as its UTF-8 bytes (byte fallback), so any UTF-8 text round-trips.
- `BPETokenizer`: byte-level BPE trained with Hugging Face `tokenizers` (any UTF-8 text round-trips).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

from lstmkit.data.text import TextError

UNK = "<unk>"
N_BYTES = 256


class Tokenizer(Protocol):
    kind: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class CharTokenizer:
    """Characters -> ids; ids 0 = `<unk>`, 1..256 = bytes 0x00..0xFF, then the characters by frequency."""

    kind = "char"

    def __init__(self, chars: list[str], byte_fallback: bool = True) -> None:
        self.chars = list(chars)
        self.byte_fallback = byte_fallback
        self._index = {c: i + 1 + N_BYTES for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, text: str, min_count: int = 1, byte_fallback: bool = True) -> CharTokenizer:
        counts = Counter(text)
        chars = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
        return cls(chars, byte_fallback)

    @property
    def vocab_size(self) -> int:
        return 1 + N_BYTES + len(self.chars)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for c in text:
            i = self._index.get(c)
            if i is not None:
                ids.append(i)
            elif self.byte_fallback:
                ids.extend(1 + b for b in c.encode("utf-8"))
            else:
                ids.append(0)
        return ids

    def decode(self, ids: list[int]) -> str:
        out: list[str] = []
        pending = bytearray()
        for i in ids:
            if 1 <= i <= N_BYTES:
                pending.append(i - 1)
                continue
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending.clear()
            out.append(UNK if i == 0 else self.chars[i - 1 - N_BYTES])
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)

    def token_text(self, i: int) -> str:
        return UNK if i == 0 else f"<0x{i - 1:02X}>" if i <= N_BYTES else self.chars[i - 1 - N_BYTES]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": self.chars, "byte_fallback": self.byte_fallback}


class BPETokenizer:
    """Byte-level BPE from Hugging Face `tokenizers`."""

    kind = "bpe"

    def __init__(self, tokenizer: Any) -> None:
        self.tok = tokenizer

    @classmethod
    def fit(cls, text: str, vocab_size: int = 2000) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = HFTokenizer(models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[UNK],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        lines = text.splitlines(keepends=True)
        tok.train_from_iterator((lines[i : i + 1000] for i in range(0, len(lines), 1000)), trainer=trainer)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokenizer": self.tok.to_str()}


class WordTokenizer(BPETokenizer):
    """Lower-cased words and punctuation (Hugging Face `tokenizers` WordLevel): the unit word vectors
    (word2vec, GloVe) are made of. Words outside the vocabulary read as one unknown token."""

    kind = "word"

    @classmethod
    def fit(cls, text: str, vocab_size: int = 2000) -> WordTokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import models, normalizers, pre_tokenizers, trainers

        tok = HFTokenizer(models.WordLevel(unk_token=UNK))
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=[UNK], show_progress=False)
        lines = text.splitlines()
        tok.train_from_iterator((lines[i : i + 1000] for i in range(0, len(lines), 1000)), trainer=trainer)
        return cls(tok)

    def vocab(self) -> dict[str, int]:
        return self.tok.get_vocab()


def tokenizer_from_dict(data: dict[str, Any]) -> CharTokenizer | BPETokenizer:
    if data.get("kind") == "char":
        return CharTokenizer(data["chars"], data.get("byte_fallback", True))
    if data.get("kind") in ("bpe", "word"):
        from tokenizers import Tokenizer as HFTokenizer

        return (BPETokenizer if data["kind"] == "bpe" else WordTokenizer)(HFTokenizer.from_str(data["tokenizer"]))
    raise TextError(f"unknown tokenizer kind {data.get('kind')!r}; expected char, bpe or word")


def build_tokenizer(kind: str, text: str, vocab_size: int) -> CharTokenizer | BPETokenizer:
    if kind == "char":
        return CharTokenizer.fit(text)
    if kind == "bpe":
        return BPETokenizer.fit(text, vocab_size)
    if kind == "word":
        return WordTokenizer.fit(text, vocab_size)
    raise TextError(f"unknown tokenizer {kind!r}; use char, bpe or word")
