"""The modern cells' export form (layer.export_form()): the same numbers as the layer in PyTorch, and in
onnxruntime at batch sizes and lengths other than the traced ones (the time loop is an ONNX Loop), with padded
sequences and a given state, one and two directions."""

import io

import numpy as np
import pytest
import torch

from lstmkit.nn import minGRU, minLSTM, mLSTM, sLSTM

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("cls", [sLSTM, mLSTM, minGRU, minLSTM], ids=lambda c: c.__name__)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_export_form_equals_the_layer_in_torch_and_onnxruntime(cls, bidirectional):
    torch.manual_seed(0)
    layer = cls(5, 8, 2, batch_first=True, bidirectional=bidirectional).eval()
    form = layer.export_form()
    names = list(layer.state_type._fields)

    def case(b, t, seed):
        g = torch.Generator().manual_seed(seed)
        x, lengths = torch.randn(b, t, 5, generator=g), torch.randint(1, t + 1, (b,), generator=g)
        lengths[0] = t
        with torch.no_grad():
            _, s0 = layer(torch.randn(b, 4, 5, generator=g))  # a state the layer can reach
            y, s1 = layer(x, s0, lengths=lengths)
        return x, lengths, s0, y, s1

    x, lengths, s0, y, s1 = case(3, 7, 0)
    with torch.no_grad():
        out = form(x, lengths, *s0)
    for a, b in zip(out, (y, *s1)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    buf = io.BytesIO()
    dynamic = {"x": {0: "b", 1: "t"}, "lengths": {0: "b"}, **{n: {1: "b"} for n in names}}
    torch.onnx.export(
        form,
        (x, lengths, *s0),
        buf,
        input_names=["x", "lengths", *names],
        output_names=["y", *[f"{n}_out" for n in names]],
        dynamic_axes=dynamic,
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(buf.getvalue())
    for b, t, seed in ((1, 3, 1), (6, 12, 2)):
        x, lengths, s0, y, s1 = case(b, t, seed)
        got = session.run(
            None, {"x": x.numpy(), "lengths": lengths.numpy(), **{n: s.numpy() for n, s in zip(names, s0)}}
        )
        for a, want in zip(got, (y, *s1)):
            np.testing.assert_allclose(a, want.numpy(), rtol=1e-4, atol=1e-5)
