"""`lstmkit lm train|evaluate|generate`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lstmkit.clitools import (
    add_config_flags,
    add_runtime_flag,
    emit,
    load_model,
    progress,
    quiet_lightning,
    run_config,
)
from lstmkit.errors import UsageError
from lstmkit.tasks.lm import SPEC

EXAMPLES = """examples:
  lstmkit lm train --text shakespeare --epochs 2 --out runs/lm/shakespeare
  lstmkit lm train --text my-notes/ --tokenizer bpe --vocab-size 4000
  lstmkit lm train --text train.txt --val-text heldout.txt     # held-out text of your own
  lstmkit lm evaluate --model runs/lm/shakespeare --text shakespeare --json
  lstmkit lm generate --model runs/lm/shakespeare --prompt "ROMEO:" --max-new-tokens 300 \\
      --temperature 0.8 --top-p 0.95"""


def _load(path: str, runtime: str = "torch", threads: int | None = None) -> Any:
    return load_model(path, SPEC, runtime, threads)


def _train(args: argparse.Namespace, spec: Any) -> None:
    from lstmkit.tasks.lm.lm import LanguageModel

    quiet_lightning()
    run = run_config(args, spec)
    lm = LanguageModel(config=run.task, train=run.train).fit()
    if not lm.primary:
        return  # a distributed run's extra process: the first one reports
    assert lm.run_dir is not None
    test = lm.heldout()  # never trained or selected on; "split" says which text it is
    assert lm.corpus is not None
    val = lm.evaluate(lm.corpus.val)  # what `lm evaluate` of the saved model gives on the validation text
    payload = {
        "run": str(lm.run_dir),
        "model": str(lm.run_dir / "model"),
        # the saved model's validation score, one carried-state pass as `lm evaluate` gives it (the engine's
        # val_* during training read eval_columns streams; one name per figure, so those are not repeated)
        **{k: v for k, v in lm.fit_metrics.items() if not k.startswith("val_")},
        **{f"val_{k}": v for k, v in val.items() if k in ("loss", "bpc", "perplexity")},
        **{f"test_{k}": v for k, v in test.items()},
    }
    sample = lm.generate("\n", max_new_tokens=200, temperature=0.8, seed=0)[0]
    emit(
        args,
        payload,
        lambda: (
            "\n".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in payload.items())
            + f"\nsample:\n{sample}"
        ),
    )


def _evaluate(args: argparse.Namespace) -> None:
    lm = _load(args.model, args.runtime, args.threads)
    if args.adapt:
        from lstmkit.tasks.lm.config import AdaptConfig

        if args.runtime != "torch":
            raise UsageError("--adapt learns while it reads (gradients): run it with --runtime torch")
        adapt = AdaptConfig(lr=args.adapt_lr, segment=args.adapt_segment, decay=args.adapt_decay)
    from lstmkit.data.text import evaluation_text

    text = evaluation_text(args.text)  # read once, scored once or twice
    m = lm.evaluate(text, progress=progress("tokens read"))  # the model's own figure, always reported
    if args.adapt:  # beside it, never instead: the adapted figure and its settings under "adapted"
        a = lm.evaluate(text, progress=progress("tokens read, adapting"), adapt=adapt)
        m["adapted"] = {**a.pop("adapted"), **a}
    emit(
        args,
        m,
        lambda: (
            f"{args.text}: {m['loss']:.4f} nats/token, {m['bpc']:.4f} bits/char, perplexity "
            f"{m['perplexity']:.2f} per token ({m['char_perplexity']:.3f} per char) over "
            f"{m['tokens']} tokens"
            + (
                f"\nwith dynamic evaluation (--adapt, lr {m['adapted']['lr']:g}; the model learned from each "
                f"segment after scoring it): {m['adapted']['loss']:.4f} nats/token, {m['adapted']['bpc']:.4f} "
                "bits/char"
                if "adapted" in m
                else ""
            )
        ),
    )


def _add_adapt_flags(ev: argparse.ArgumentParser) -> None:
    """--adapt and its settings, help and defaults from AdaptConfig."""
    import dataclasses

    from lstmkit.tasks.lm.config import AdaptConfig

    ev.add_argument(
        "--adapt",
        action="store_true",
        help="dynamic evaluation (Krause et al. 2018): the model keeps learning from the text as it scores it, "
        "each segment scored before it is learned from; reported beside, never instead of, the static figure",
    )
    for f in dataclasses.fields(AdaptConfig):
        ev.add_argument(
            f"--adapt-{f.name}",
            type=type(f.default),
            default=f.default,
            help=f"with --adapt: {f.metadata.get('help', '')} (default: %(default)s)",
        )


def _generate(args: argparse.Namespace) -> None:
    lm = _load(args.model, args.runtime, args.threads)
    opts = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "repetition_penalty": args.repetition_penalty,
        "seed": args.seed,
    }
    stop = tuple(args.stop or ())
    if args.json or args.num_samples > 1:
        texts = lm.generate(args.prompt, args.max_new_tokens, args.num_samples, stop, **opts)
        emit(
            args,
            {"prompt": args.prompt, "samples": texts},
            lambda: "\n\n".join(f"--- sample {i + 1}\n{args.prompt}{t}" for i, t in enumerate(texts)),
        )
        return
    sys.stdout.write(args.prompt)
    for piece in lm.stream(args.prompt, args.max_new_tokens, stop, **opts):
        sys.stdout.write(piece)
        sys.stdout.flush()  # live output, token by token
    sys.stdout.write("\n")


def register_cli(sub: argparse._SubParsersAction, spec: Any) -> None:
    group = sub.add_parser(
        "lm",
        help="language models: train, evaluate, generate text",
        description="LSTM language models on characters or BPE tokens.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = group.add_subparsers(title="verbs", metavar="<verb>")
    train = verbs.add_parser(
        "train",
        help="train on a text file, a folder or shakespeare",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(train, spec)
    train.set_defaults(func=lambda a: _train(a, spec))

    ev = verbs.add_parser("evaluate", help="loss, bits per character and perplexity over a whole text")
    ev.add_argument("--model", required=True, metavar="RUN", help="run directory or saved-model directory")
    ev.add_argument(
        "--text", required=True, metavar="PATH|shakespeare", help="a file (all of it) or shakespeare (its test plays)"
    )
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_adapt_flags(ev)
    add_runtime_flag(ev)
    ev.set_defaults(func=_evaluate)

    gen = verbs.add_parser("generate", help="continue a prompt; tokens stream as they are produced")
    gen.add_argument("--model", required=True, metavar="RUN", help="run directory or saved-model directory")
    gen.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    gen.add_argument("--max-new-tokens", type=int, default=300, help="tokens to generate (default: %(default)s)")
    gen.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default: %(default)s)")
    gen.add_argument("--top-k", type=int, default=0, help="keep the k most likely tokens (0: off)")
    gen.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: off)")
    gen.add_argument("--repetition-penalty", type=float, default=1.0, help="> 1 discourages repeats")
    gen.add_argument("--num-samples", type=int, default=1, help="samples generated together in one batch")
    gen.add_argument("--stop", nargs="+", metavar="TEXT", help="stop a sample when it produces one of these")
    gen.add_argument("--seed", type=int, help="fix the sample")
    gen.add_argument("--json", action="store_true", help="print the samples as JSON (no streaming)")
    gen.add_argument(
        "--runtime",
        choices=["torch", "onnx"],
        default="torch",
        help="torch, or onnx: the model's ONNX export (lstmkit export) on onnxruntime, no torch "
        "(greedy output is the same; seeds do not carry over between runtimes)",
    )
    gen.set_defaults(func=_generate)
