"""ONNX export: every exportable task's graphs equal its PyTorch model (independent of the export wrappers)
at batch sizes 1 and 7, two lengths and a non-zero state; the onnx runtime path imports no torch; broken
exports are named; int8 costs little accuracy; the dynamo exporter's trap is caught."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.cli import main
from lstmkit.deploy.export import ExportError
from lstmkit.deploy.onnx_ops import OnnxRecurrent
from lstmkit.deploy.onnx_runtime import ExportFileError, OnnxRunner
from lstmkit.nn import GRU, LSTM
from lstmkit.registry import export_model, load_onnx
from tests.helpers import strict_json

FIXTURES = Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0"
SHAPES = [(1, 4), (7, 13)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """task -> (loaded torch model, OnnxRunner) for the fixture models of every exportable task."""
    root = tmp_path_factory.mktemp("onnx")
    out = {}
    for task in ("lm", "classify", "longrange", "translate"):
        model = lstmkit.load(FIXTURES / task)
        export_model(model, root / task)
        out[task] = (model, OnnxRunner(root / task))
    return out


def _close(a, b, tol=1e-5):
    a, b = np.asarray(a), np.asarray(b.detach() if isinstance(b, torch.Tensor) else b)
    assert a.shape == b.shape
    assert float((np.abs(a - b) / (1 + np.abs(b))).max()) < tol


def _lengths(b, t, g):
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    lengths[-1] = t
    return lengths


def test_core_layers_as_onnx_operators_match_torch(tmp_path):
    import onnxruntime as ort

    g = torch.Generator().manual_seed(0)
    for layer in (LSTM(3, 5, 2, batch_first=True, bidirectional=True), GRU(3, 5, 1, batch_first=True)):
        wrap = OnnxRecurrent(layer.eval())
        D = 2 if layer.bidirectional else 1
        args = (
            torch.randn(2, 6, 3),
            torch.tensor([6, 2]),
            torch.randn(layer.num_layers * D, 2, 5),
            torch.randn(layer.num_layers * D, 2, 5),
        )
        names = ["x", "lengths", "h0", "c0"]
        torch.onnx.export(
            wrap,
            args,
            str(tmp_path / "r.onnx"),
            input_names=names,
            output_names=["out", "h", "c"],
            dynamic_axes={"x": {0: "b", 1: "t"}, "lengths": {0: "b"}, "h0": {1: "b"}, "c0": {1: "b"}},
            dynamo=False,
        )
        sess = ort.InferenceSession(str(tmp_path / "r.onnx"))
        for b, t in SHAPES:
            x, lengths = torch.randn(b, t, 3, generator=g), _lengths(b, t, g)
            h0 = torch.randn(layer.num_layers * D, b, 5, generator=g)
            c0 = torch.randn(layer.num_layers * D, b, 5, generator=g)
            with torch.no_grad():
                ref, state = layer(x, (h0, c0) if layer.mode == "LSTM" else h0, lengths=lengths)  # torch itself
            out, h, _ = sess.run(None, {"x": x.numpy(), "lengths": lengths.numpy(), "h0": h0.numpy(), "c0": c0.numpy()})
            _close(out, ref)
            _close(h, state[0] if layer.mode == "LSTM" else state)


def test_language_model_graph_and_greedy_generation(exported):
    lm, runner = exported["lm"]
    g = torch.Generator().manual_seed(1)
    L, H = lm.net.rnn.num_layers, lm.net.rnn.hidden_size
    for b, t in SHAPES:
        tokens = torch.randint(0, lm.tokenizer.vocab_size, (b, t), generator=g)
        h, c = torch.randn(L, b, H, generator=g), torch.randn(L, b, H, generator=g)
        with torch.no_grad():
            logits, (h2, c2) = lm.net(tokens, (h, c))
        out = runner.run("model", {"tokens": tokens.numpy(), "h": h.numpy(), "c": c.numpy()})
        _close(out["logits"], logits)
        _close(out["h_out"], h2)
        _close(out["c_out"], c2)
    onnx_lm = load_onnx(runner.root)
    assert onnx_lm.generate("to be", 30, temperature=0) == lm.generate("to be", 30, temperature=0)
    text = "to be or not to be, that is the question"
    assert onnx_lm.evaluate(text)["bpc"] == pytest.approx(lm.evaluate(text)["bpc"], rel=1e-5)


def test_classifier_graph(exported):
    c, runner = exported["classify"]
    texts = ["good plot", "awful film and a bad plot", "great", "bad", "good film", "awful", "plot"]
    for n in (1, 7):
        ex = c.examples(texts[:n])
        xs = c.encoding.inputs(ex)
        lengths = torch.tensor([len(x) for x in xs])
        x = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
        out = runner.run("model", {"x": x.numpy(), "lengths": lengths.numpy()})
        _close(out["probabilities"], c.probabilities(ex))  # the Classifier's own answer


def test_longrange_graph_continues_a_stream(exported):
    m, runner = exported["longrange"]
    net = m._ready()
    g = torch.Generator().manual_seed(2)
    for b, t in SHAPES:
        x, lengths = torch.randn(b, t, 2, generator=g), _lengths(b, t, g)
        h0, c0 = torch.randn(1, b, 8, generator=g), torch.randn(1, b, 8, generator=g)
        with torch.no_grad():
            out, (h, c) = net.rnn(x, (h0, c0), lengths=lengths)
            y = net.readout(out, lengths)
        got = runner.run("model", {"x": x.numpy(), "lengths": lengths.numpy(), "h0": h0.numpy(), "c0": c0.numpy()})
        _close(got["y"], y)
        _close(got["h"], h)
        _close(got["c"], c)


def test_translator_encoder_and_decoder_step(exported):
    t, runner = exported["translate"]
    net = t.net
    g = torch.Generator().manual_seed(3)
    for b, s in SHAPES:
        lengths = _lengths(b, s, g)
        src = torch.randint(3, t.vocab.src_size, (b, s), generator=g)
        with torch.no_grad():
            memory, (h0, c0) = net.encode(src, lengths)
        enc = runner.run("encoder", {"src": src.numpy(), "src_lengths": lengths.numpy()})
        _close(enc["h0"], h0)
        _close(enc["c0"], c0)
        mask = torch.arange(s)[None] < lengths[:, None]
        _close(enc["values"] * mask[..., None].numpy(), memory.values * mask[..., None])
        y = torch.randint(3, t.vocab.tgt_size, (b,), generator=g)
        feed = torch.randn(b, net.A, generator=g)
        with torch.no_grad():
            logp, (h1, c1), feed1, w = net.step(y, (h0, c0), feed, memory)
        step = runner.run(
            "decoder_step",
            {
                "y": y.numpy(),
                "h": enc["h0"],
                "c": enc["c0"],
                "feed": feed.numpy(),
                "values": enc["values"],
                "keys": enc["keys"],
                "src_lengths": lengths.numpy(),
            },
        )
        _close(step["logp"], logp)
        _close(step["attention"], w)
        _close(step["feed_out"], feed1)
        _close(step["h_out"], h1)
        _close(step["c_out"], c1)
        assert float(np.abs(step["attention"][~mask.numpy()]).max(initial=0)) == 0.0


def test_signature_describes_every_port(exported):
    _, runner = exported["translate"]
    sig = json.loads((runner.root / "signature.json").read_text())
    assert (
        sig["format"] == "lstmkit-onnx"
        and sig["exporter"] == "legacy"
        and set(sig["graphs"]) == {"encoder", "decoder_step"}
    )
    for graph in sig["graphs"].values():
        for port in graph["inputs"] + graph["outputs"]:
            assert port["meaning"] and port["dtype"] in ("float32", "int64") and "batch" in port["shape"]
    assert (runner.root / "vocab.json").is_file() and sig["parity"]["shapes"] == [[1, 3], [7, 11]]


def test_onnx_runtime_path_imports_no_torch(exported, tmp_path):
    root = exported["lm"][1].root
    code = (
        "import sys; from lstmkit.cli import main; "
        f"rc = main(['lm', 'generate', '--model', {str(root)!r}, '--runtime', 'onnx', '--temperature', '0', "
        "'--max-new-tokens', '10', '--prompt', 'to']); "
        "assert rc == 0; assert 'torch' not in sys.modules, 'torch was imported'; "
        "assert 'lightning' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("to")


def test_broken_exports_are_named(exported, tmp_path):
    src = exported["lm"][1].root
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    data = bytearray((bad / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ExportFileError, match="corrupted"):
        OnnxRunner(bad)
    sig = json.loads((bad / "signature.json").read_text())
    (bad / "model.onnx").write_bytes(b"not a model")
    sig["files"]["model.onnx"] = __import__("hashlib").sha256(b"not a model").hexdigest()
    (bad / "signature.json").write_text(json.dumps(sig))
    with pytest.raises(ExportFileError, match="not a loadable ONNX model"):
        OnnxRunner(bad)
    with pytest.raises(ExportFileError, match="no ONNX export"):
        OnnxRunner(tmp_path / "nothing")
    from lstmkit.errors import UsageError

    with pytest.raises(UsageError, match="layer norm"):  # ONNX's operator computes the plain cell only
        OnnxRecurrent(LSTM(3, 4, layer_norm=True))


def test_int8_costs_little_accuracy_and_cli_reports_it(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 300, encoding="utf-8")
    assert (
        main(
            [
                "lm",
                "train",
                "--text",
                str(text),
                "--hidden-size",
                "32",
                "--embedding-size",
                "16",
                "--num-layers",
                "1",
                "--bptt",
                "16",
                "--batch-size",
                "8",
                "--epochs",
                "4",
                "--lr",
                "1e-2",
                "--grad-clip",
                "0",
                "--no-progress",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["export", "--model", str(tmp_path / "run"), "--quantize", "int8", "--json"]) == 0
    sig = strict_json(capsys.readouterr().out)
    q = sig["quantized"]
    assert q["fp32"]["bpc"] < 2.0, "the model learned the text"
    assert abs(q["change"]["bpc"]) < 0.05 * q["fp32"]["bpc"]  # int8 within 5 % of the fp32 bits per character
    int8 = load_onnx(tmp_path / "run", variant="int8")
    assert int8.network.runner.variant == "int8" and (tmp_path / "run" / "onnx" / "model.int8.onnx").is_file()


def test_dynamo_exporter_is_checked_like_legacy(tmp_path):
    m = lstmkit.load(FIXTURES / "longrange")
    try:
        export_model(m, tmp_path / "d", exporter="dynamo")
    except ExportError as err:  # torch 2.13's dynamo exporter cannot trace data-dependent lengths
        assert "legacy" in str(err)
    else:
        assert OnnxRunner(tmp_path / "d").signature["exporter"] == "dynamo"


def test_classify_predict_with_the_onnx_runtime_imports_no_torch(exported, tmp_path):
    import pandas as pd

    c, runner = exported["classify"]
    frame = pd.DataFrame({"text": ["good plot", "awful film", "great", "bad plot"]})
    frame.to_csv(tmp_path / "new.csv", index=False)
    code = (
        "import sys; from lstmkit.cli import main; "
        f"rc = main(['classify', 'predict', '--model', {str(runner.root)!r}, '--runtime', 'onnx', '--data', "
        f"{str(tmp_path / 'new.csv')!r}, '--out', {str(tmp_path / 'p.csv')!r}]); "
        "assert rc == 0; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got, want = pd.read_csv(tmp_path / "p.csv"), c.predict(frame)
    assert got["prediction"].tolist() == want["prediction"].tolist()
    np.testing.assert_allclose(got["p_pos"], want["p_pos"], rtol=1e-5)


def test_forecast_onnx_runtime_forecasts_as_pytorch_without_torch(tmp_path):
    from lstmkit.tasks.forecast import Forecaster

    f = Forecaster(horizon=12, hidden_size=16, steps_per_epoch=20, epochs=3, progress=False, out=str(tmp_path / "run"))
    f.fit("air-passengers")
    f.save(tmp_path / "run" / "model")
    sig = export_model(f, tmp_path / "run" / "onnx", quantize="int8")
    q = sig["quantized"]  # MASE of the last 12 months from the rest, fp32 vs int8 graphs
    assert abs(q["change"]["mase"]) < 0.05 * q["fp32"]["mase"] + 0.01
    code = (
        "import sys; from lstmkit.cli import main; "
        f"rc = main(['forecast', 'predict', '--model', {str(tmp_path / 'run')!r}, '--runtime', 'onnx', '--data', "
        f"'air-passengers', '--out', {str(tmp_path / 'fc.csv')!r}]); "
        "assert rc == 0; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    import pandas as pd

    got, want = pd.read_csv(tmp_path / "fc.csv"), f.predict("air-passengers")
    for col in ("y_hat", "y_hat_q10", "y_hat_q90"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-4)
    assert got["ds"].tolist() == want["ds"].astype(str).tolist()


def test_translate_predict_with_the_onnx_runtime_matches_torch(exported, tmp_path):
    t, runner = exported["translate"]
    onnx_t = load_onnx(runner.root)
    texts = ["siebzehn", "dreihundertzwei", "neunzehntausend", "eins"]
    for beam in (1, 3):
        assert onnx_t.translate(texts, beam_size=beam) == t.translate(texts, beam_size=beam)
    src = tmp_path / "src.txt"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    code = (
        "import sys; from lstmkit.cli import main; "
        f"rc = main(['translate', 'predict', '--model', {str(runner.root)!r}, '--runtime', 'onnx', '--input', "
        f"{str(src)!r}, '--beam-size', '3']); assert rc == 0; assert 'torch' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == t.translate(texts, beam_size=3)
