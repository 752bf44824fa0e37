"""The architecture, checked: lower layers never import higher ones, the file format knows no task,
configs and the registry import no torch, inference imports no training framework."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "lstmkit"
# a package may import only the packages listed for it (and itself); the top-level modules sit above all
ALLOWED = {
    "nn": set(),
    "data": {"errors"},
    "inspect": {"nn", "errors"},
    "deploy": {"errors"},
    "engine": {"config", "errors", "deploy", "nn"},
}


def _imports(path: Path) -> set[str]:
    """The lstmkit modules a file imports, by their first name under lstmkit (`import lstmkit` -> "lstmkit")."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lstmkit."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "lstmkit":
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {
                a.name.split(".")[1] if "." in a.name else "lstmkit" for a in node.names if a.name.startswith("lstmkit")
            }
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_lower_layers_never_import_higher_ones(package):
    for path in (ROOT / package).rglob("*.py"):
        if path.name == "cli.py":  # a package's command-line face belongs to the CLI layer
            continue
        bad = _imports(path) - ALLOWED[package] - {package, "__version__"}
        assert not bad, f"{path.relative_to(ROOT.parent)} imports lstmkit.{', lstmkit.'.join(sorted(bad))}"


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_configs_and_the_registry_import_no_torch():
    code = (
        "import sys, lstmkit, lstmkit.config, lstmkit.engine, lstmkit.registry; from lstmkit.registry import TASKS; "
        "[TASKS[t].config_class for t in ('forecast', 'lm', 'classify')]; print('torch' in sys.modules)"
    )
    assert _fresh(code) == "False"  # (the long-range problems are torch code)


def test_inference_through_the_protocol_imports_no_training_framework():
    fixtures = Path(__file__).parent / "fixtures" / "models" / "v0.1.0"
    code = f"""
import sys, lstmkit
lm = lstmkit.load({str(fixtures / "lm")!r})
out, state = lm.step(lm.initial_state(), {{"text": "to be"}})
lm.predict_records([{{"prompt": "to", "max_new_tokens": 3}}])
f = lstmkit.load({str(fixtures / "forecast")!r})
f.predict("air-passengers")
lr = lstmkit.load({str(fixtures / "longrange")!r})
lr.predict_records([{{"x": [[0.5, 1.0], [0.2, 0.0]]}}])
c = lstmkit.load({str(fixtures.parent / "v0.2.0" / "classify")!r})
c.predict_records([{{"text": "good"}}]); c.explain("a good film")
print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))
"""
    assert _fresh(code) == "[]"


FACADE = {"registry", "cli", "pyfunc", "load", "lstmkit"}  # above the tasks: the registry, its facade, the CLI


def test_tasks_never_import_the_registry_or_its_facade():
    files = [*(ROOT / "tasks").rglob("*.py"), ROOT / "clitools.py"]
    for path in files:
        bad = _imports(path) & FACADE
        assert not bad, (
            f"{path.relative_to(ROOT.parent)} imports {', '.join(sorted(bad))} (tasks load through their SPEC)"
        )


def _strings(path: Path) -> set[str]:
    """The string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    }


def test_no_task_name_branches_below_the_tasks():
    """deploy/, data/, engine/, nn/ and inspect/ read capabilities, never a task's name; nor does the web page."""
    import re

    from lstmkit.registry import TASKS

    for package in ("deploy", "data", "engine", "nn", "inspect"):
        for path in (ROOT / package).rglob("*.py"):
            named = _strings(path) & set(TASKS)
            assert not named, f"{path.relative_to(ROOT.parent)} names task(s) {sorted(named)}"
    page = (ROOT / "deploy" / "page.html").read_text(encoding="utf-8")
    assert not re.search(r"\.task\s*[!=]==?", page), "the web page branches on a task name"
