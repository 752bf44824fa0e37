"""The pretrained forecaster's network (zeroshot.py says what it does): patch embedding, a recurrent network
over the patches, a non-crossing quantile head; and its pinball loss.

Notation as in zeroshot.py: B series, C context, P patch, N = C / P, D hidden, Hm horizon, Q levels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.nn import recurrent_layer
from lstmkit.tasks.forecast.zeroshot import ZeroShotConfig


class PatchNet(nn.Module):
    """Scaled contexts (B, C) and their mask (B, C) -> scaled quantiles (B, Hm, Q), non-crossing. An anchored
    model (cfg.anchor) also takes the statistical path base (B, Hm): its head reads it, its quantiles are
    offsets from it."""

    def __init__(self, cfg: ZeroShotConfig) -> None:
        super().__init__()
        P, D = cfg.patch, cfg.hidden_size
        self.P, self.Hm, self.Q = P, cfg.horizon, len(cfg.levels)
        self.mid = list(cfg.levels).index(0.5)
        self.embed = nn.Sequential(nn.Linear(2 * P, D), nn.GELU(), nn.Linear(D, D))
        self.rnn = recurrent_layer(cfg.cell, D, D, cfg.num_layers, batch_first=True)
        self.head = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, self.Hm * self.Q))
        self.base_in = nn.Linear(self.Hm, D) if cfg.anchor != "none" else None

    def forward(self, x: Tensor, mask: Tensor, base: Tensor | None = None) -> Tensor:
        B, C = x.shape
        z = torch.cat([x.view(B, C // self.P, self.P), mask.view(B, C // self.P, self.P)], -1)  # (B, N, 2P)
        out, _ = self.rnn(self.embed(z))  # (B, N, D)
        return self.quantiles(out[:, -1], base)

    def quantiles(self, last: Tensor, base: Tensor | None) -> Tensor:
        """The last recurrent output (B, D) (and the anchor's path (B, Hm)) -> quantiles (B, Hm, Q)."""
        if self.base_in is None:
            return self.monotone(self.head(last).view(-1, self.Hm, self.Q))
        if base is None:
            raise ValueError("this pretrained network corrects an anchor path: pass base (B, Hm)")
        squashed = torch.sign(base) * torch.log1p(base.abs())  # (B, Hm) large paths compressed
        last = last + self.base_in(squashed)  # (B, D) the path joins the state
        return base[..., None] + self.monotone(self.head(last).view(-1, self.Hm, self.Q))  # (B, Hm, Q)

    def monotone(self, raw: Tensor) -> Tensor:
        """(B, Hm, Q) -> quantiles: the median column as is, each other level a softplus step from its neighbour
        towards the tails (so they never cross)."""
        mid = raw[..., self.mid : self.mid + 1]  # (B, Hm, 1)
        up = mid + torch.cumsum(F.softplus(raw[..., self.mid + 1 :]), -1)  # (B, Hm, Q_up)
        down = mid - torch.cumsum(F.softplus(raw[..., : self.mid]).flip(-1), -1).flip(-1)  # (B, Hm, Q_down)
        return torch.cat([down, mid, up], -1)


def pinball(q: Tensor, target: Tensor, mask: Tensor, levels: Tensor) -> Tensor:
    """Mean pinball loss of quantiles q (B, H, Q) against target (B, H) where mask (B, H) is 1."""
    diff = target[..., None] - q  # (B, H, Q)
    loss = torch.maximum(levels * diff, (levels - 1) * diff)  # (B, H, Q)
    return (loss.mean(-1) * mask).sum() / mask.sum().clamp(min=1)


class TorchPatchNetwork:
    """The predictor's network interface over the PyTorch model: scaled contexts and masks (B, C) (numpy) ->
    scaled quantiles (B, Hm, Q)."""

    def __init__(self, net: PatchNet) -> None:
        self.net = net.eval()

    def quantiles(self, x: np.ndarray, mask: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        with torch.no_grad():
            b = None if base is None else torch.from_numpy(base)
            return self.net(torch.from_numpy(x), torch.from_numpy(mask), b).double().numpy()


class PatchGraph(nn.Module):
    """The network for export: (x, mask (B, C) [, base (B, Hm)]) -> scaled quantiles (B, Hm, Q), the recurrent
    layer as an exportable operator (any cell)."""

    def __init__(self, net: PatchNet) -> None:
        super().__init__()
        from lstmkit.deploy.onnx_ops import recurrent_op

        self.net, self.rnn = net, recurrent_op(net.rnn)

    def forward(self, x: Tensor, mask: Tensor, base: Tensor | None = None) -> Tensor:
        net = self.net
        B, C = x.shape
        z = torch.cat([x.view(B, C // net.P, net.P), mask.view(B, C // net.P, net.P)], -1)  # (B, N, 2P)
        e = net.embed(z)  # (B, N, D)
        lengths = torch.ones_like(e[:, 0, 0], dtype=torch.int64) * e.shape[1]
        out = self.rnn(e, lengths)[0]  # (B, N, D)
        return net.quantiles(out[:, -1], base)
