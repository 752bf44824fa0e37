"""Translation scores with sacreBLEU: BLEU and chrF on detokenized, cased output, each with its signature
(so a figure says exactly how it was computed), and the copy baseline (the source as its own translation)."""

from __future__ import annotations

from typing import Any


def corpus_scores(hyps: list[str], refs: list[str], lowercase: bool = False) -> dict[str, Any]:
    """BLEU and chrF of `hyps` against one reference each, with sacreBLEU's signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
    bleu, chrf = BLEU(lowercase=lowercase), CHRF(lowercase=lowercase)
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    exact = sum(h.strip() == r.strip() for h, r in zip(hyps, refs)) / max(len(refs), 1)
    return {
        "bleu": round(b.score, 2),
        "chrf": round(c.score, 2),
        "exact": round(100 * exact, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "bleu_detail": str(b),
        "n": len(hyps),
    }


def copy_baseline(srcs: list[str], refs: list[str]) -> dict[str, Any]:
    """What leaving the sentences untranslated scores: the floor any translation model must clear."""
    return corpus_scores(list(srcs), refs)
