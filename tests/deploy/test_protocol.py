"""The inference protocol, checked the same way on every task's saved model, and old saved models.

The models are the fixtures in tests/fixtures/models/<generation>: v0.1.0 was saved by lstmkit 0.1.0 before
the protocol existed, v0.2.0 has every task, v0.3.0 the forecaster's anchor auto and rolling intervals, v0.4.0 translate. They must load with today's code, answer as they did
when saved, and serve the protocol."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.deploy.protocol import InferenceModel, ModelState, RequestError, StatefulModel, check
from lstmkit.tasks import TASKS

ROOT = Path(__file__).parent.parent / "fixtures" / "models"
GENERATIONS = ("v0.1.0", "v0.2.0", "v0.3.0", "v0.4.0")
FIXTURES = ROOT / "v0.2.0"  # the inputs the examples read
CASES = [(g, t) for g in GENERATIONS for t in sorted(TASKS) if (ROOT / g / t).is_dir()]


def _air() -> pd.DataFrame:
    from lstmkit.data.builtin_series import load_builtin

    return load_builtin("air-passengers")[0]


def _examples(task: str) -> dict:
    """Per task: input records, and for stateful tasks two step inputs that together equal a third."""
    if task == "forecast":
        rows = json.loads(_air().assign(ds=lambda d: d.ds.astype(str)).to_json(orient="records"))
        return {"records": rows, "bad": [{"unique_id": "x", "y": 1.0}], "bad_field": "ds",
                "steps": ({"rows": rows[:100]}, {"rows": rows[100:]}, {"rows": rows})}
    if task == "lm":
        return {"records": [{"prompt": "to be", "max_new_tokens": 8, "temperature": 0, "seed": 1}],
                "bad": [{"prompt": 3}], "bad_field": "prompt",
                "steps": ({"text": "to be or "}, {"text": "not to be"}, {"text": "to be or not to be"})}
    if task == "translate":
        return {"records": [{"text": "siebzehn"}, {"text": "dreihundertzwei"}], "bad": [{"txt": "x"}], "bad_field": "text"}
    if task == "classify":
        return {"records": [{"text": "good plot"}, {"text": "awful film"}], "bad": [{"text": 3}], "bad_field": "text"}
    x = np.load(FIXTURES / "longrange-input.npy")
    return {"records": [{"x": x[0].tolist()}, {"x": x[1].tolist()}], "bad": [{"x": "ten"}], "bad_field": "x"}


@pytest.fixture(scope="module", params=CASES, ids=[f"{g}-{t}" for g, t in CASES])
def loaded(request):
    generation, task = request.param
    return task, lstmkit.load(ROOT / generation / task), generation


def test_every_task_has_a_fixture():
    assert {t for g, t in CASES if g == GENERATIONS[-1]} == set(TASKS)


def test_old_models_answer_as_they_did(loaded):
    task, model, generation = loaded
    expected = json.loads((ROOT / generation / "expected.json").read_text())[task]
    assert model.task == task
    if task == "forecast":
        np.testing.assert_allclose(model.predict("air-passengers")["y_hat"], expected, rtol=1e-5)
    elif task == "lm":
        assert model.generate("to be", max_new_tokens=20, temperature=0)[0] == expected
    elif task == "translate":
        assert model.translate(["siebzehn", "dreihundertzwei"], beam_size=3) == expected
    elif task == "classify":
        np.testing.assert_allclose(model.predict(["good plot", "awful film"])["p_pos"], expected, atol=1e-6)
    else:
        x = torch.from_numpy(np.load(ROOT / generation / "longrange-input.npy"))
        np.testing.assert_allclose(model.predict(x).numpy(), expected, atol=1e-6)


def test_schema_records_and_frames(loaded):
    task, model, _ = loaded
    assert isinstance(model, InferenceModel)
    schema = model.schema()
    json.dumps(schema, allow_nan=False)
    ex = _examples(task)
    out = model.predict_records(ex["records"])
    assert out, "predictions for the records"
    for r in out:
        check(r, schema["output"], "output")
    json.dumps(out, allow_nan=False)
    frame = model.predict_frame(pd.DataFrame(ex["records"]) if task != "longrange" else pd.DataFrame(
        {"x": [r["x"] for r in ex["records"]]}))
    if task == "classify":
        assert [r["prediction"] for r in out] == frame["prediction"].tolist()
    assert len(frame) == len(out)
    with pytest.raises(RequestError, match=ex["bad_field"]):
        model.predict_records(ex["bad"])


def test_stateful_steps_compose_and_states_snapshot(loaded):
    task, model, _ = loaded
    if not model.schema()["stateful"]:
        assert not isinstance(model, StatefulModel)
        return
    assert isinstance(model, StatefulModel)
    first, second, whole = _examples(task)["steps"]
    s0 = model.initial_state()
    _, s1 = model.step(s0, first)
    before = s1.to_bytes()
    out_split, _ = model.step(s1, second)
    assert s1.to_bytes() == before, "step must not modify the state it is given"
    out_whole, _ = model.step(model.initial_state(), whole)
    for restored in (ModelState.from_bytes(s1.to_bytes()), ModelState.from_json(json.loads(json.dumps(s1.to_json())))):
        out_again, _ = model.step(restored, second)
        assert out_again == out_split  # a snapshot restores exactly
    if task == "lm":  # reading in two steps = reading at once
        assert out_split["next"][0]["token"] == out_whole["next"][0]["token"]
        np.testing.assert_allclose(out_split["next"][0]["prob"], out_whole["next"][0]["prob"], rtol=1e-5)
        out_a, _ = model.step(s0, first)
        np.testing.assert_allclose(out_a["logprob"] + out_split["logprob"], out_whole["logprob"], rtol=1e-5)
    else:
        got = [r["y_hat"] for r in out_split["forecast"]]
        np.testing.assert_allclose(got, [r["y_hat"] for r in out_whole["forecast"]], rtol=1e-5)
        np.testing.assert_allclose(got, model.predict(_air())["y_hat"], rtol=1e-4)  # = predict on the history
    with pytest.raises(RequestError):
        ModelState.from_bytes(b"not a state")


def test_probe_feeds_inspection(loaded):
    task, model, _ = loaded
    inputs = {"forecast": {"data": "air-passengers"}, "classify": {"text": "good film"},
              "translate": {"text": "siebzehn"}}.get(task)
    probe = model.probe(inputs)
    assert hasattr(probe.layer, "cell") and probe.x.dim() == 3
    if probe.loss_of_output is not None:
        from lstmkit.inspect.gradients import gradient_flow

        flow = gradient_flow(probe.layer, probe.x, probe.loss_of_output, lengths=probe.lengths)
        assert flow.norms.shape[-1] == probe.x.shape[1] and bool((flow.norms >= 0).all())
