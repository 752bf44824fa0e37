"""Every cell on a CUDA GPU against the same cell on the CPU: outputs, final states and gradients with padded
lengths and a given initial state (float64: equal to rounding; float32 without TF32: within 1e-4), the three
mLSTM forms against each other on the GPU, streaming steps against one call, and finite values at
pre-activations of +-50. The whole file skips where no GPU is visible (CI never has one); it runs on a lent
GPU machine (`pytest tests/nn/test_cuda.py`)."""

from __future__ import annotations

import pytest
import torch

from lstmkit.nn import CELLS, recurrent_layer, state_tensors
from lstmkit.nn.state import initial_state, map_state

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _exact_float32():
    """TF32 rounds float32 products to 10 bits of mantissa; parity is checked without it (restored after)."""
    kept = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = kept


def make(cell: str, dtype: torch.dtype, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return recurrent_layer(cell, 5, 8, num_layers=2, batch_first=True, **kw).to(dtype)


def some_state(layer: torch.nn.Module, batch: int, dtype: torch.dtype):
    """A non-zero state the layer could have produced (positive normalisers, finite stabilisers)."""
    zero = layer.initial_state(batch, dtype=dtype) if hasattr(layer, "initial_state") else None
    zero = zero if zero is not None else initial_state(layer, batch, like=torch.zeros(1, dtype=dtype))
    g = torch.Generator().manual_seed(3)
    names = getattr(type(zero), "_fields", None)

    def fill(t: torch.Tensor, name: str | None) -> torch.Tensor:
        r = torch.rand(t.shape, generator=g, dtype=dtype)
        return r + 1.0 if name == "n" and cells_normalise(layer) else r if name == "m" else r - 0.5

    if names is not None:
        return type(zero)(*(fill(t, n) for n, t in zip(names, zero)))
    return map_state(lambda t: fill(t, None), zero)


def cells_normalise(layer: torch.nn.Module) -> bool:
    return type(layer).__name__ == "sLSTM"  # sLSTM's n divides directly: keep it positive


def run(layer: torch.nn.Module, x: torch.Tensor, state, lengths: torch.Tensor, device: torch.device):
    """Output, final state and gradients (input, parameters) of sum(y^2) on `device`."""
    layer = layer.to(device)
    x = x.to(device).requires_grad_(True)
    y, final = layer(x, map_state(lambda t: t.to(device), state), lengths=lengths)
    y.square().sum().backward()
    grads = {n: p.grad.detach().cpu() for n, p in layer.named_parameters()}
    layer.zero_grad()
    return y.detach().cpu(), {k: v.detach().cpu() for k, v in state_tensors(final).items()}, x.grad.cpu(), grads


def scaled_state(cell: str, s: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mLSTM's C and n carry exp(-m): compare them with the stabiliser put back."""
    if cell != "mlstm":
        return s
    m = s["m"].exp()
    return {"C": s["C"] * m[..., None, None], "n": s["n"] * m[..., None]}


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize("cell", CELLS)
def test_gpu_equals_cpu(cell, dtype, atol):
    layer = make(cell, dtype, bidirectional=True)
    x = torch.randn(3, 33, 5, dtype=dtype)
    lengths = torch.tensor([33, 9, 20])
    state = some_state(layer, 3, dtype)
    ref = run(
        make(cell, torch.float64, bidirectional=True),
        x.double(),
        map_state(torch.Tensor.double, state),
        lengths,
        torch.device("cpu"),
    )
    got = run(layer, x, state, lengths, CUDA)
    torch.testing.assert_close(got[0].double(), ref[0], rtol=0, atol=atol)
    want, have = scaled_state(cell, ref[1]), scaled_state(cell, got[1])
    for name in want:
        torch.testing.assert_close(have[name].double(), want[name], rtol=atol, atol=atol, msg=f"state {name}")
    torch.testing.assert_close(got[2].double(), ref[2], rtol=atol, atol=atol * 10)
    for name in ref[3]:
        torch.testing.assert_close(got[3][name].double(), ref[3][name], rtol=atol, atol=atol * 10, msg=name)


@pytest.mark.parametrize("chunk", [1, 16, 64])
def test_mlstm_forms_agree_on_the_gpu(chunk):
    torch.manual_seed(1)
    x = torch.randn(2, 200, 5, device=CUDA)
    ys = []
    for form in ("recurrent", "parallel", "chunkwise"):
        torch.manual_seed(0)
        layer = recurrent_layer("mlstm", 5, 8, batch_first=True).to(CUDA)
        layer.cells[0].form, layer.cells[0].chunk_size = form, chunk
        ys.append(layer(x)[0])
    for y in ys[1:]:
        torch.testing.assert_close(y, ys[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_streaming_on_the_gpu_equals_one_call(cell):
    layer = make(cell, torch.float64).to(CUDA).eval()
    x = torch.randn(2, 12, 5, dtype=torch.float64, device=CUDA)
    with torch.no_grad():
        y, _ = layer(x)
        state, steps = None, []
        for t in range(12):
            out, state = layer(x[:, t : t + 1], state)
            steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), y, rtol=0, atol=1e-10)


@pytest.mark.parametrize("cell", CELLS)
def test_large_pre_activations_stay_finite_on_the_gpu(cell):
    layer = make(cell, torch.float32).to(CUDA)
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(50.0)
    x = (torch.randn(2, 30, 5, device=CUDA) * 50).requires_grad_(True)
    y, state = layer(x)
    assert torch.isfinite(y).all() and all(torch.isfinite(t).all() for t in state_tensors(state).values())
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("backend", ["fused", "explicit"])
def test_lstm_backends_on_the_gpu_equal_torch(backend):
    torch.manual_seed(0)
    ours = recurrent_layer("lstm", 5, 8, num_layers=2, batch_first=True, backend=backend).to(CUDA)
    ref = torch.nn.LSTM(5, 8, num_layers=2, batch_first=True).to(CUDA)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 50, 5, device=CUDA)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-5)
