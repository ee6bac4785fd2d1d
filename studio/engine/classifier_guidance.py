"""Classifier guidance (Dhariwal & Nichol, 2021) for the embedded emoji models.

A noise-conditional subgroup classifier `p_phi(y | x_t, t)` works on the model's own input (the
pixel-unshuffled 12x16x16 x_t). Each model call's output is corrected by the gradient of
`log p_phi(y | x_t)` for the prompt's subgroup y, with the sources' scaling
`eps_hat = eps - w * s_t * grad`. For a v-prediction model, with x_t fixed, that is
`v_hat = v - w * (s_t / a_t) * grad`; at zero signal (a_t = 0, the first step of a
zero-terminal-SNR model) the classifier sees pure noise and the correction is left out.
With classifier-free guidance both halves of the batch get the same correction, so the
guided prediction moves by it exactly once.

The classifier is not the eval judge: another architecture (residual blocks with a FiLM time
input, on the model's 12-channel input instead of RGB), another seed, and it never sees the
concepts of the evaluation prompts (`studio.lab.guidance_classifier`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler
from safetensors.torch import load_file
from torch import nn

from studio.core.emoji_vocabulary import EmojiVocabulary, no_subgroup_message, vocabulary_dir
from studio.core.paths import assets_dir
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.samplers import SamplerError

IN_CHANNELS = 12
WIDTH = 32
TIME_FEATURES = 16


def default_classifier_dir() -> Path:
    return vocabulary_dir(assets_dir())


def time_embedding(t: torch.Tensor) -> torch.Tensor:
    """Sinusoidal features of training timesteps (0..999) scaled to [0, 1]."""
    u = t.float().reshape(-1, 1) / 1000.0
    freqs = torch.arange(1, TIME_FEATURES // 2 + 1, device=t.device).float() * math.pi
    return torch.cat([(u * freqs).cos(), (u * freqs).sin()], dim=1)


class FilmBlock(nn.Module):
    """A residual conv block whose activations are scaled and shifted by the time embedding."""

    def __init__(self, channels: int, time_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.film = nn.Linear(time_dim, 2 * channels)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = nn.functional.silu(self.conv1(x))
        h = h * (1 + scale) + shift
        return x + self.conv2(nn.functional.silu(h))


class NoisyClassifierNet(nn.Module):
    """x_t (B, 12, 16, 16) and timesteps (B,) to subgroup logits."""

    def __init__(self, classes: int, width: int = WIDTH) -> None:
        super().__init__()
        time_dim = 4 * TIME_FEATURES
        self.time = nn.Sequential(
            nn.Linear(TIME_FEATURES, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )
        self.stem = nn.Conv2d(IN_CHANNELS, width, 3, padding=1)
        self.block1 = FilmBlock(width, time_dim)
        self.down1 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.block2 = FilmBlock(2 * width, time_dim)
        self.down2 = nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1)
        self.block3 = FilmBlock(2 * width, time_dim)
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time(time_embedding(t.expand(x.shape[0]) if t.ndim == 0 else t))
        h = self.block1(self.stem(x), emb)
        h = self.block2(nn.functional.silu(self.down1(h)), emb)
        h = self.block3(nn.functional.silu(self.down2(h)), emb)
        return self.head(h.mean(dim=(2, 3)))


@dataclass(frozen=True, slots=True)
class GuidanceClassifier:
    """A trained noise-conditional classifier with its subgroup vocabulary and name index."""

    net: NoisyClassifierNet
    vocabulary: EmojiVocabulary

    @classmethod
    def load(cls, folder: Path) -> GuidanceClassifier:
        vocabulary = EmojiVocabulary.load(folder)
        net = NoisyClassifierNet(len(vocabulary.subgroups))
        net.load_state_dict(load_file(folder / "classifier.safetensors"))
        return cls(net.eval().requires_grad_(False), vocabulary)

    def subgroup_of(self, prompt: str) -> int | None:
        """The subgroup a prompt names (`EmojiVocabulary.subgroup_of`); None when none."""
        return self.vocabulary.subgroup_of(prompt)


def signal_coefficients(
    alphas_cumprod: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(a_t, s_t) at possibly fractional timesteps, alpha-bar interpolated linearly."""
    abar = alphas_cumprod.double().to(t.device)
    tt = t.double().clamp(0, len(abar) - 1)
    lo = tt.floor().long()
    hi = (lo + 1).clamp(max=len(abar) - 1)
    frac = tt - lo.double()
    value = (abar[lo] * (1 - frac) + abar[hi] * frac).clamp(0.0, 1.0)
    return value.sqrt().float(), (1.0 - value).sqrt().float()


def guidance_gradient(
    classifier: NoisyClassifierNet, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """grad_x log p(labels | x, t), summed over the batch (each row's own gradient)."""
    with torch.enable_grad():
        x_in = x.detach().float().requires_grad_(True)
        logits = classifier(x_in, t.float())
        chosen = torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).sum()
        (grad,) = torch.autograd.grad(chosen, x_in)
    return grad


def corrected(
    output: torch.Tensor,
    grad: torch.Tensor,
    a: torch.Tensor,
    s: torch.Tensor,
    scale: float,
    prediction: str,
) -> torch.Tensor:
    """The model output moved by the classifier gradient with the sources' scaling."""
    shape = (-1, *([1] * (output.ndim - 1)))
    a, s = a.reshape(shape), s.reshape(shape)
    if prediction == "epsilon":
        step = s * grad
    elif prediction == "v_prediction":
        step = torch.where(a > 1e-6, s / a.clamp_min(1e-6), torch.zeros_like(a)) * grad
    else:
        raise ValueError(
            f"Classifier guidance cannot correct a model that predicts {prediction!r}."
        )
    return output - scale * step.to(output.dtype)


@contextlib.contextmanager
def classifier_guided(
    unet: torch.nn.Module,
    classifier: NoisyClassifierNet,
    subgroup: int,
    scale: float,
    alphas_cumprod: torch.Tensor,
    prediction: str,
) -> Iterator[None]:
    """While active, every call of `unet` returns its output corrected for `subgroup`."""
    classifier = classifier.to(next(unet.parameters()).device)

    def correct(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        x = args[0] if args else kwargs["sample"]
        t = args[1] if len(args) > 1 else kwargs["timestep"]
        t = torch.as_tensor(t, device=x.device).float()
        t = t.expand(x.shape[0]) if t.ndim == 0 else t
        labels = torch.full((x.shape[0],), subgroup, dtype=torch.long, device=x.device)
        grad = guidance_gradient(classifier, x, t, labels)
        a, s = signal_coefficients(alphas_cumprod, t)
        sample = output.sample if hasattr(output, "sample") else output[0]
        fixed = corrected(sample, grad, a, s, scale, prediction)
        if hasattr(output, "sample"):
            output.sample = fixed
            return output
        return (fixed, *output[1:])

    handle = unet.register_forward_hook(correct, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


class ClassifierGuide:
    """Loads the guidance classifier on first use and guides a lane's model calls with it."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_classifier_dir()
        self._classifier: GuidanceClassifier | None = None

    def classifier(self) -> GuidanceClassifier:
        if self._classifier is None:
            if not (self.folder / "classifier.safetensors").is_file():
                raise GuidanceUnavailable(
                    f"Classifier guidance needs its classifier in {self.folder}; train it with "
                    "studio guidance-classifier."
                )
            self._classifier = GuidanceClassifier.load(self.folder)
        return self._classifier

    def guided(
        self, pipe: Any, prompt: str, scale: float, base_config: Mapping[str, Any], model: str
    ) -> tuple[contextlib.AbstractContextManager[None], str]:
        """The context that guides `pipe`'s model calls, and a notice ("" when none)."""
        if scale <= 0:
            return contextlib.nullcontext(), ""
        unet = getattr(pipe, "unet", None)
        if (
            unet is None
            or unet.config.in_channels != IN_CHANNELS
            or not isinstance(pipe, EmojiPipeline)
        ):
            raise GuidanceUnavailable(
                f"Classifier guidance works with the embedded emoji models only (its classifier "
                f"reads their 12x16x16 input); {model} is a {type(pipe).__name__}."
            )
        found = self.classifier()
        subgroup = found.subgroup_of(prompt)
        if subgroup is None:
            return contextlib.nullcontext(), no_subgroup_message(prompt)
        schedule = DDPMScheduler.from_config(dict(base_config))
        prediction = str(base_config.get("prediction_type", "epsilon"))
        context = classifier_guided(
            unet, found.net, subgroup, scale, schedule.alphas_cumprod, prediction
        )
        return context, ""


class GuidanceUnavailable(SamplerError):
    """Classifier guidance was asked for where it cannot run; the message says why."""
