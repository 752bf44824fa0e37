"""Builds the documentation site's pages, then the site: `python docs/build.py [--out site]` (`make docs`).

The pages come from the repository, so they cannot drift from it: the README's sections become the guide
(getting started, one page per task, the recurrent core, saved models, export, serving, adding a task), the CLI
reference is every command's `--help` as the parsers print it, and the Python API reference is rendered from
the docstrings by mkdocstrings. MkDocs builds with --strict: a broken link or reference fails the build.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "docs" / "pages"
SECTIONS = {  # README heading (its start) -> page
    "Install": "install.md",
    "Forecasting": "tasks/forecast.md",
    "Language models": "tasks/lm.md",
    "Classification": "tasks/classify.md",
    "Translation": "tasks/translate.md",
    "Sequence labelling": "tasks/tag.md",
    "The long-range lab": "tasks/longrange.md",
    "The recurrent core": "core.md",
    "One engine, one CLI": "engine.md",
    "Saved models and the inference protocol": "saved-models.md",
    "Export and fast inference": "export.md",
    "Serving": "serving.md",
    "Adding a task": "adding-a-task.md",
    "Layout": "layout.md",
    "Benchmarks": "benchmarks.md",
}
API = {
    "Loading, exporting, the registry": ["lstmkit.registry"],
    "Recurrent layers": [
        "lstmkit.nn.LSTM", "lstmkit.nn.GRU", "lstmkit.nn.sLSTM", "lstmkit.nn.mLSTM",
                         "lstmkit.nn.minLSTM", "lstmkit.nn.minGRU", "lstmkit.nn.recurrent_layer"],
    "Tasks": ["lstmkit.tasks.forecast.forecaster.Forecaster",
              "lstmkit.tasks.forecast.pretrained.PretrainedForecaster", "lstmkit.tasks.lm.lm.LanguageModel",
              "lstmkit.tasks.classify.classifier.Classifier", "lstmkit.tasks.translate.translator.Translator",
              "lstmkit.tasks.longrange.lab.LongRangeModel", "lstmkit.tasks.tag.tagger.Tagger",
              "lstmkit.tasks.spec.TaskSpec", "lstmkit.tasks.spec.Capabilities"],
    "Inspection": ["lstmkit.inspect.trace.trace", "lstmkit.inspect.gradients.gradient_flow"],
    "Data": ["lstmkit.data.synth_series"],
    "Inference protocol and saved models": ["lstmkit.deploy.protocol", "lstmkit.deploy.saved_model"],
}  # fmt: skip


def readme_sections() -> dict[str, str]:
    """Heading -> the section's text (links into the repository made absolute to its files on disk)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    out = {}
    for part in parts[1:]:
        head, _, body = part.partition("\n")
        out[head.strip()] = f"# {head.strip()}\n{body}"
    return out


def cli_reference() -> str:
    """Every command's --help, as the parsers print it (the CLI's own words)."""
    from lstmkit.cli import build_parser

    parser = build_parser()
    lines = ["# CLI reference", "", "Every command's `--help`, generated from the parsers.", ""]

    def walk(p: argparse.ArgumentParser, words: list[str]) -> None:
        buf = io.StringIO()
        with redirect_stdout(buf):
            p.print_help()
        lines.extend(
            [
                f"## `lstmkit {' '.join(words)}`" if words else "## `lstmkit`",
                "",
                "```text",
                buf.getvalue().rstrip(),
                "```",
                "",
            ]
        )
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*words, name])

    walk(parser, [])
    return "\n".join(lines)


def api_reference() -> str:
    lines = ["# Python API", "", "Rendered from the docstrings.", ""]
    for title, names in API.items():
        lines += [f"## {title}", ""]
        lines += [f"::: {name}\n" for name in names]
    return "\n".join(lines)


def write_pages() -> None:
    shutil.rmtree(PAGES, ignore_errors=True)
    (PAGES / "tasks").mkdir(parents=True)
    sections = readme_sections()
    for head, page in SECTIONS.items():
        match = next((k for k in sections if k.startswith(head)), None)
        if match is None:
            raise SystemExit(f"README has no section starting {head!r}: update docs/build.py")
        (PAGES / page).write_text(sections[match], encoding="utf-8")
    intro = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    (PAGES / "index.md").write_text(intro.replace("# lstmkit", "# lstmkit: getting started", 1), encoding="utf-8")
    (PAGES / "cli.md").write_text(cli_reference(), encoding="utf-8")
    (PAGES / "api.md").write_text(api_reference(), encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=str(ROOT / "site"), help="where the site goes (default: site/)")
    args = p.parse_args()
    write_pages()
    cmd = [
        sys.executable,
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--quiet",
        "-f",
        str(ROOT / "mkdocs.yml"),
        "-d",
        args.out,
    ]
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.returncode)
    print(f"documentation written to {args.out}/index.html", file=sys.stderr)


if __name__ == "__main__":
    main()
