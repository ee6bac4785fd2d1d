"""Turning the current sample or predicted x0 into a small uint8 RGB image: the linear
latent->RGB map, or a decoder (a tiny or full VAE, see `preview_decoders`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

LATENT_RGB = {
    "sd15": (
        (
            (0.3512, 0.2297, 0.3227),
            (0.3250, 0.4974, 0.2350),
            (-0.2829, 0.1762, 0.2721),
            (-0.2120, -0.2616, -0.7177),
        ),
        (0.0, 0.0, 0.0),
    ),
    "sdxl": (
        (
            (0.3651, 0.4232, 0.4341),
            (-0.2533, -0.0042, 0.1068),
            (0.1076, 0.1111, -0.0362),
            (-0.3165, -0.2492, -0.2188),
        ),
        (0.1084, -0.0175, -0.0011),
    ),
}


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] to a read-only HxWx3 uint8 array."""
    arr = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)
    out = np.ascontiguousarray(arr.cpu().numpy())
    out.setflags(write=False)
    return out


def _latent_rgb(latent: torch.Tensor, fmt: str) -> torch.Tensor:
    factors, bias = LATENT_RGB[fmt]
    m = torch.tensor(factors, dtype=torch.float32, device=latent.device)
    b = torch.tensor(bias, dtype=torch.float32, device=latent.device)
    return (torch.einsum("chw,cr->rhw", latent.float(), m) + b[:, None, None]) * 2 - 1


def _channels_rgb(latent: torch.Tensor) -> torch.Tensor:
    x = latent[:3].float()
    if x.shape[0] < 3:
        x = x[:1].expand(3, -1, -1)
    lo, hi = x.amin(), x.amax()
    return (x - lo) / (hi - lo).clamp(min=1e-6) * 2 - 1


def _shrink(rgb: torch.Tensor, max_side: int) -> torch.Tensor:
    h, w = rgb.shape[-2:]
    factor = max(h, w) / max_side
    if factor <= 1:
        return rgb
    size = (max(1, round(h / factor)), max(1, round(w / factor)))
    return torch.nn.functional.interpolate(rgb[None], size=size, mode="area")[0]


def preview_image(latents: torch.Tensor, fmt: str, max_side: int = 256) -> np.ndarray:
    """The first image of a batch of model-space latents as a small RGB array."""
    latent = latents[0].detach()
    if fmt == "pixel_unshuffle2":
        rgb = torch.nn.functional.pixel_shuffle(latent[None].float(), 2)[0]
    elif fmt in LATENT_RGB and latent.shape[0] == 4:
        rgb = _latent_rgb(latent, fmt)
    elif fmt == "pixel" and latent.shape[0] == 3:
        rgb = latent.float()
    else:
        rgb = _channels_rgb(latent)
    return _to_uint8(_shrink(rgb, max_side))


def decoded_previews(
    decode: Callable[[torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    x0: torch.Tensor | None,
    max_side: int = 256,
) -> tuple[np.ndarray, np.ndarray | None]:
    """x_t's and x0's first images through `decode` (one batched call), as small RGB arrays."""
    batch = latents[:1].detach()
    if x0 is not None:
        batch = torch.cat([batch, x0[:1].detach().to(batch.dtype)])
    rgb = decode(batch)
    x_t = _to_uint8(_shrink(rgb[0].float(), max_side))
    return x_t, (None if x0 is None else _to_uint8(_shrink(rgb[1].float(), max_side)))
