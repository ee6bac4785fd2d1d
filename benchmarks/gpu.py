"""Suite part 6 (`--gpu`): full-size SD 1.5 and SDXL with random weights at 512 and 1024.

Per architecture and size: the studio's overhead against a bare `pipe(...)` (as in part 1,
through the real EngineHost and Runner; the pipelines are built in memory from the shipped
configs, see benchmarks.random_pipelines), the cost of one preview per method (the engine's
latent->RGB projection, diffusers' tiny decoder AutoencoderTiny with random weights, the full
VAE decode), and denoising iterations per second. Refuses without CUDA.

Written and tested without a GPU: only the hidden CPU path (`--gpu-device cpu --tiny`, tiny
widths, 64 px) has run; the numbers of a real run on a GPU have not been seen yet.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from benchmarks.common import interleaved
from benchmarks.engine_overhead import Case, measure
from benchmarks.options import PartOptions
from benchmarks.random_pipelines import build, loaded_model, memory_loader, memory_ref
from benchmarks.results import PartResult, Stat, Table
from benchmarks.suite_overhead import overhead_result
from studio.core.params import GenerationParams
from studio.engine.model_cache import ModelCache
from studio.engine.previews import preview_image
from studio.engine.runner import Runner

FAMILIES = {"sd15": "SD 1.5", "sdxl": "SDXL"}
SIZES, TINY_SIZES = (512, 1024), (64,)
STEPS, TINY_STEPS = 25, 2
REPEATS, QUICK_REPEATS = 5, 1
TINY = " (tiny widths and depths: a test of the code path, not a measurement)"
NO_CUDA = (
    "The GPU part needs a CUDA device and torch sees none: run it on a machine with an NVIDIA "
    "GPU and a CUDA build of torch, or leave out --gpu."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """Where and how big the GPU part runs."""

    device: str
    dtype: torch.dtype
    sizes: tuple[int, ...]
    steps: int
    repeats: int
    tiny: bool


def setup(options: PartOptions) -> Setup:
    device = options.gpu_device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(NO_CUDA)
    on_gpu = device.startswith("cuda")
    return Setup(
        device=device,
        dtype=torch.float16 if on_gpu else torch.float32,
        sizes=TINY_SIZES if options.tiny else SIZES,
        steps=TINY_STEPS if options.tiny else STEPS,
        repeats=QUICK_REPEATS if options.quick else REPEATS,
        tiny=options.tiny,
    )


def synced(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    def call() -> Any:
        out = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    return call


def case(label: str, size: int, steps: int) -> Case:
    params = GenerationParams(
        prompt="a red cube on a wooden table, studio light",
        sampler="Euler",
        num_inference_steps=steps,
        guidance_scale=7.0,
        seed=1,
        width=size,
        height=size,
    )
    return Case(f"{label}, {size}x{size}, Euler, {steps} steps, CFG 7", memory_ref(label), params)


def preview_costs(pipe: Any, fmt: str, size: int, s: Setup) -> dict[str, Stat]:
    from diffusers import AutoencoderTiny

    shape = (1, pipe.vae.config.latent_channels, size // 8, size // 8)
    latents = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(0))
    latents = latents.to(s.device, s.dtype)
    with torch.device(s.device):
        tiny_decoder = AutoencoderTiny().to(s.device, s.dtype)
    scale = pipe.vae.config.scaling_factor

    @torch.no_grad()
    def decode(vae: Any, x: torch.Tensor) -> Any:
        return preview_image(vae.decode(x).sample, "pixel")

    methods = {
        "latent→RGB projection (the engine's)": lambda: preview_image(latents, fmt),
        "tiny decoder (AutoencoderTiny, random weights)": lambda: decode(tiny_decoder, latents),
        "full VAE decode": lambda: decode(pipe.vae, latents / scale),
    }
    samples = interleaved({k: synced(f, s.device) for k, f in methods.items()}, s.repeats)
    return {name: Stat.of(sample.seconds) for name, sample in samples.items()}


def denoise_rate(pipe: Any, c: Case, s: Setup) -> Stat:
    p = c.params

    def call() -> Any:
        return pipe(
            prompt=p.prompt,
            num_inference_steps=p.num_inference_steps,
            guidance_scale=p.guidance_scale,
            height=p.height,
            width=p.width,
            output_type="latent",
        )

    sample = interleaved({"latent": synced(call, s.device)}, s.repeats)["latent"]
    return Stat.of(p.num_inference_steps / t for t in sample.seconds)


def measure_family(family: str, s: Setup) -> tuple[list, list[tuple[str, ...]]]:
    label = FAMILIES[family] + (" (tiny)" if s.tiny else "")
    pipe = build(family, s.device, s.dtype, s.tiny)
    loaded = loaded_model(pipe, label, s.device, s.dtype)
    models = {loaded.ref: loaded}

    def factory() -> Runner:
        return Runner(ModelCache(capacity=1, loader=memory_loader(models), device=s.device))

    overhead, rows = [], []
    for size in s.sizes:
        c = case(label, size, s.steps)
        overhead.append((c, measure(c, s.repeats, runner_factory=factory, warmup=1)))
        costs = preview_costs(pipe, loaded.latent_format, size, s)
        rate = denoise_rate(pipe, c, s)
        rows += [(c.label, f"{name}: s per preview", st.text(4)) for name, st in costs.items()]
        rows.append((c.label, "denoising it/s (text encoding included, no VAE)", rate.text(2)))
    models.clear()
    del loaded, pipe
    gc.collect()
    if s.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return overhead, rows


def run(options: PartOptions) -> PartResult:
    s = setup(options)
    started = time.strftime("%H:%M")
    overhead, rows = [], []
    for family in FAMILIES:
        found, more = measure_family(family, s)
        overhead += found
        rows += more
    device = torch.cuda.get_device_name(s.device) if s.device.startswith("cuda") else s.device
    method = (
        f"On {device} in {str(s.dtype).removeprefix('torch.')}, started {started}: SD 1.5 and "
        f"SDXL built from the configs in assets/single-file with random weights{TINY * s.tiny}; "
        f"{s.repeats} interleaved rounds after a warm-up. Overhead as in part 1; preview cost "
        "is one preview of a latent batch (to a uint8 image on the CPU); it/s from a bare call "
        "with `output_type='latent'`."
    )
    result = overhead_result("gpu", "6. GPU: full-size architectures", method, overhead)
    previews = Table(columns=("case", "preview method / measure", "median (IQR)"), rows=tuple(rows))
    return replace(result, tables=(*result.tables, previews))
