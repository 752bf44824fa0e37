"""The inference protocol, checked the same way on every registered task's saved model, and old saved models.

Driven by the registry: every task's examples module (TaskSpec.examples) makes a tiny model with today's code
(the "fresh" cases, so a new task is tested here without writing a test) and gives the inputs and the answer
to compare. The stored fixtures in tests/fixtures/models/<generation> (v0.1.0 saved by lstmkit 0.1.0 before the
protocol existed, v0.2.0 with classify, v0.3.0 anchor auto and rolling intervals, v0.4.0 translate) must load
with today's code, answer as they did when saved, and serve the protocol."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lstmkit
from lstmkit.deploy.protocol import InferenceModel, ModelState, RequestError, StatefulModel, check
from lstmkit.registry import TASKS

ROOT = Path(__file__).parent.parent / "fixtures" / "models"
GENERATIONS = ("v0.1.0", "v0.2.0", "v0.3.0", "v0.4.0")
STORED = [(g, t) for g in GENERATIONS for t in sorted(TASKS) if (ROOT / g / t).is_dir()]
CASES = STORED + [("fresh", t) for t in TASKS]


def same(got, expected, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Strings equal, numbers close, lists and dicts element by element."""
    if isinstance(expected, str):
        assert got == expected
    elif isinstance(expected, dict):
        assert got.keys() == expected.keys()
        for k in expected:
            same(got[k], expected[k], rtol, atol)
    elif isinstance(expected, list) and expected and isinstance(expected[0], (str, list, dict)):
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            same(a, b, rtol, atol)
    else:
        np.testing.assert_allclose(
            np.asarray(got, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=atol
        )


@pytest.fixture(scope="session")
def fresh_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fresh-models")


@pytest.fixture(scope="module", params=CASES, ids=[f"{g}-{t}" for g, t in CASES])
def loaded(request, fresh_root):
    generation, task = request.param
    examples = TASKS[task].example_module()
    where = ROOT / generation if generation != "fresh" else fresh_root / task
    if generation == "fresh":
        where.mkdir(exist_ok=True)
        examples.make(where / "model", where)
    path = where / task if generation != "fresh" else where / "model"
    return task, lstmkit.load(path), generation, where, examples


def test_every_task_has_examples_and_a_stored_fixture_generation_lists_old_tasks():
    for spec in TASKS.values():
        ex = spec.example_module()
        assert all(callable(getattr(ex, f, None)) for f in ("make", "answer", "inputs")), spec.name
    assert {t for g, t in STORED if g == GENERATIONS[-1]} <= set(TASKS)


def test_old_models_answer_as_they_did(loaded):
    task, model, generation, where, examples = loaded
    assert model.task == task and model.capabilities is TASKS[task].capabilities
    if generation == "fresh":  # nothing stored to compare with: the answer is at least repeatable
        same(examples.answer(model, where), examples.answer(lstmkit.load(where / "model"), where))
        return
    expected = json.loads((ROOT / generation / "expected.json").read_text())[task]
    same(examples.answer(model, where), expected)


def test_schema_records_and_frames(loaded):
    _task, model, _, where, examples = loaded
    assert isinstance(model, InferenceModel)
    schema = model.schema()
    json.dumps(schema, allow_nan=False)
    ex = examples.inputs(where)
    out = model.predict_records(ex["records"])
    assert out, "predictions for the records"
    for r in out:
        check(r, schema["output"], "output")
    json.dumps(out, allow_nan=False)
    frame = model.predict_frame(pd.DataFrame(ex["records"]))
    assert len(frame) == len(out)
    for col in frame.columns:  # the frame says what the records say
        if col in out[0] and isinstance(out[0][col], str) and isinstance(frame[col].iloc[0], str):
            assert [r[col] for r in out] == frame[col].tolist()
    with pytest.raises(RequestError, match=ex["bad_field"]):
        model.predict_records(ex["bad"])


def test_stateful_steps_compose_and_states_snapshot(loaded):
    task, model, _, where, examples = loaded
    assert model.schema()["stateful"] == TASKS[task].capabilities.stateful
    if not TASKS[task].capabilities.stateful:
        assert not isinstance(model, StatefulModel)
        return
    assert isinstance(model, StatefulModel)
    first, second, whole = examples.inputs(where)["steps"]
    s0 = model.initial_state()
    _, s1 = model.step(s0, first)
    before = s1.to_bytes()
    out_split, _ = model.step(s1, second)
    assert s1.to_bytes() == before, "step must not modify the state it is given"
    out_whole, _ = model.step(model.initial_state(), whole)
    for restored in (ModelState.from_bytes(s1.to_bytes()), ModelState.from_json(json.loads(json.dumps(s1.to_json())))):
        out_again, _ = model.step(restored, second)
        assert out_again == out_split  # a snapshot restores exactly
    same(examples.step_answer(out_split), examples.step_answer(out_whole))  # two steps = one step over both
    with pytest.raises(RequestError):
        ModelState.from_bytes(b"not a state")


def test_probe_feeds_inspection(loaded):
    _task, model, _, where, examples = loaded
    probe = model.probe(examples.inputs(where).get("probe"))
    assert hasattr(probe.layer, "cell") and probe.x.dim() == 3
    if probe.loss_of_output is not None:
        from lstmkit.inspect.gradients import gradient_flow

        flow = gradient_flow(probe.layer, probe.x, probe.loss_of_output, lengths=probe.lengths)
        assert flow.norms.shape[-1] == probe.x.shape[1] and bool((flow.norms >= 0).all())
