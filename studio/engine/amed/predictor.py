"""The AMED predictor: the intermediate time and the step scale from the UNet's bottleneck."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.functional import silu

TIME_CHANNELS = 8
HIDDEN = 64
BOTTLENECK_OUT = 4
SCALE_SPAN = 0.02


def time_features(timestep: float, channels: int = TIME_CHANNELS) -> torch.Tensor:
    """Sinusoidal features of a grid timestep scaled to [0, 1] (-1, the clean end, gives -0.001)."""
    u = (timestep + 1.0) / 1000.0
    freqs = torch.arange(1, channels // 2 + 1, dtype=torch.float32) * math.pi
    angles = freqs * u
    return torch.cat([angles.cos(), angles.sin()])


class AmedPredictor(nn.Module):
    """Maps the pooled bottleneck features of one evaluation and the step's two grid times to
    each sample's r in (0, 1) and scale c in (1 - SCALE_SPAN/2, 1 + SCALE_SPAN/2).

    Starts (zero output layers) at r = 1/2 and c = 1: the plain geometric midpoint.
    """

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.encode = nn.Sequential(
            nn.Linear(feature_dim, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, BOTTLENECK_OUT)
        )
        self.time = nn.Linear(TIME_CHANNELS, TIME_CHANNELS)
        joined = BOTTLENECK_OUT + 2 * TIME_CHANNELS
        self.fc_r = nn.Linear(joined, 1)
        self.fc_c = nn.Linear(joined, 1)
        for layer in (self.fc_r, self.fc_c):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, features: torch.Tensor, t_cur: float, t_next: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = features.shape[0]
        times = torch.stack([time_features(t_cur), time_features(t_next)]).to(features)
        times = silu(self.time(times)).reshape(1, -1).expand(batch, -1)
        joined = torch.cat([self.encode(features.float()), times], dim=1)
        r = torch.sigmoid(self.fc_r(joined)).squeeze(1)
        c = 1.0 + SCALE_SPAN * (torch.sigmoid(self.fc_c(joined)).squeeze(1) - 0.5)
        return r, c
