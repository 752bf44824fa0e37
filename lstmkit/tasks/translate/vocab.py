"""The source and target vocabularies, saved beside the weights as JSON so a loaded model (or its ONNX
export) tokenizes exactly as in training. No torch here.

Ids: 0 padding, 1 begin of sentence, 2 end of sentence, then the tokenizer's ids shifted by 3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lstmkit.data.parallel import Parallel
from lstmkit.data.tokenizers import build_tokenizer, tokenizer_from_dict

PAD, BOS, EOS = 0, 1, 2
SPECIALS = 3


@dataclass
class Vocabularies:
    """The source and target tokenizers (the same one when the vocabulary is joint)."""

    src: dict[str, Any]
    tgt: dict[str, Any]
    joint: bool

    @classmethod
    def fit(cls, train: Parallel, kind: str, vocab_size: int, joint: bool) -> Vocabularies:
        if joint:
            tok = build_tokenizer(kind, "\n".join(train.src + train.tgt), vocab_size).to_dict()
            return cls(tok, tok, True)
        return cls(
            build_tokenizer(kind, "\n".join(train.src), vocab_size).to_dict(),
            build_tokenizer(kind, "\n".join(train.tgt), vocab_size).to_dict(),
            False,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabularies:
        return cls(data["src"], data["tgt"], bool(data.get("joint", False)))

    def _tok(self, side: str) -> Any:
        key = f"_cached_{side}"
        if key not in self.__dict__:
            self.__dict__[key] = tokenizer_from_dict(getattr(self, side))
        return self.__dict__[key]

    @property
    def src_size(self) -> int:
        return self._tok("src").vocab_size + SPECIALS

    @property
    def tgt_size(self) -> int:
        return self._tok("tgt").vocab_size + SPECIALS

    def encode_src(self, text: str) -> list[int]:
        """A source sentence's ids; never empty (an empty line reads as its end of sentence)."""
        return [i + SPECIALS for i in self._tok("src").encode(text)] or [EOS]

    def encode_tgt(self, text: str) -> list[int]:
        """A target sentence as the decoder learns it: BOS, its ids, EOS."""
        return [BOS, *(i + SPECIALS for i in self._tok("tgt").encode(text)), EOS]

    def decode_tgt(self, ids: list[int]) -> str:
        """Target ids (specials dropped) -> detokenized text."""
        return self._tok("tgt").decode([i - SPECIALS for i in ids if i >= SPECIALS])

    def src_pieces(self, ids: list[int]) -> list[str]:
        return readable_pieces(self._tok("src"), ids)

    def tgt_pieces(self, ids: list[int]) -> list[str]:
        return readable_pieces(self._tok("tgt"), ids)


def readable_pieces(tok: Any, ids: list[int]) -> list[str]:
    """Each id as text a person can read (plots, traces): a byte-level piece that holds only part of a character
    (e.g. the first byte of "ö") is shown as "·", and the piece that completes it shows the whole character."""
    out: list[str] = []
    pending: list[int] = []
    for i in ids:
        if i < SPECIALS:
            out += ["·"] * len(pending) + [["<pad>", "<s>", "</s>"][i]]
            pending = []
            continue
        pending.append(i - SPECIALS)
        text = tok.decode(pending)
        if text.endswith("\ufffd") and len(pending) < 4:  # an unfinished UTF-8 character: wait for its next byte
            out.append("·")
            continue
        out.append(text)
        pending = []
    return out
