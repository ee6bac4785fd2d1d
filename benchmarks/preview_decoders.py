"""Preview decoders' cost: previews every step with the linear map, a tiny VAE and the full VAE
against previews off, and each decoder alone at 512 px.

1. The tiny SD pipeline (random weights, 64x64, Euler, 10 steps, CFG 5) run by the engine's
   `Runner` on this thread, previews every step (x_t and x0 each step, every one made: the
   sink takes every preview, the worst case), interleaved: off / linear / tiny (a full-size
   random-weights `AutoencoderTiny`, diffusers' default config as TAESD has it) / full (the
   pipeline's own, tiny, VAE). Its 32x32 latents decode to 256 px through the tiny VAE.
2. One 1x4x64x64 latent (a 512 px SD image) through each decoder alone: the linear map, the
   full-size `AutoencoderTiny` and a full-size `AutoencoderKL` (SD 1.5's config, built in code,
   random weights), interleaved; an x_t + x0 preview pair decodes a batch of two.

Run: `python -m benchmarks.preview_decoders [--repeats N] [--size PX] [--steps N]
[--markdown PATH]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import Sample, interleaved, machine, publish
from studio.core.jobs import GenerateJob, LaneSpec, PreviewDecoder, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.cancel import CancelToken
from studio.engine.model_cache import ModelCache
from studio.engine.preview_decoders import PreviewDecoders
from studio.engine.previews import preview_image
from studio.engine.runner import Runner


def recipe(size: int, steps: int) -> GenerationParams:
    return GenerationParams(
        prompt="a red cube",
        sampler="Euler",
        num_inference_steps=steps,
        guidance_scale=5.0,
        seed=1,
        width=size,
        height=size,
    )


class EveryPreview:
    """A sink that makes every preview offered (no mailbox skipping) and counts them."""

    def __init__(self) -> None:
        self.previews = 0

    def emit(self, event: object) -> None:
        pass

    def offer_preview(self, lane: object, make) -> bool:  # type: ignore[no-untyped-def]
        make()
        self.previews += 1
        return True


def full_size_tiny_vae(folder: Path) -> Path:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    target = folder / "taesd"
    AutoencoderTiny().save_pretrained(target, safe_serialization=True)
    return folder


def sd_vae():  # type: ignore[no-untyped-def]
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
        scaling_factor=0.18215,
    ).eval()


def params_m(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def pipeline_case(tiny_root: Path, params: GenerationParams, repeats: int) -> dict[str, Sample]:
    from tests.engine.tiny import save_tiny_sd_pipeline

    folder = save_tiny_sd_pipeline(Path(tempfile.mkdtemp()) / "tiny-sd")
    ref = ModelRef(location=str(folder), source=ModelSource.folder)
    runner = Runner(ModelCache(capacity=1), preview_decoders=PreviewDecoders(cache_dir=tiny_root))

    def variant(every: int, decoder: PreviewDecoder):  # type: ignore[no-untyped-def]
        previews = PreviewOptions(every=every, decoder=decoder, tiny_vae_dir=str(tiny_root))

        def run() -> None:
            sink = EveryPreview()
            job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=previews)
            runner.run(job, CancelToken(), sink)  # type: ignore[arg-type]
            if sink.previews != (params.num_inference_steps if every else 0):
                raise RuntimeError("not every step previewed")

        return run

    tiny_px = params.width // 2 * 8  # the tiny pipeline's VAE factor is 2, TAESD's 8
    return interleaved(
        {
            "previews off": variant(0, PreviewDecoder.linear),
            "every step, Linear": variant(1, PreviewDecoder.linear),
            f"every step, Tiny VAE (full-size AutoencoderTiny, {tiny_px} px)": variant(
                1, PreviewDecoder.tiny
            ),
            f"every step, Full VAE (the pipeline's own tiny VAE, {params.width} px)": variant(
                1, PreviewDecoder.full
            ),
        },
        repeats,
    )


def decoder_case(tiny_root: Path, repeats: int) -> tuple[dict[str, Sample], dict[str, float]]:
    from diffusers import AutoencoderTiny

    tiny = AutoencoderTiny.from_pretrained(str(tiny_root / "taesd")).eval()
    full = sd_vae()
    latent = torch.randn(1, 4, 64, 64, generator=torch.Generator().manual_seed(0))
    pair = torch.cat([latent, latent * 0.5])

    samples = interleaved(
        {
            "Linear map, 1 image": lambda: preview_image(latent, "sd15"),
            "Tiny VAE, 1 image": torch.no_grad()(lambda: tiny.decode(latent)),
            "Tiny VAE, x_t + x0 pair": torch.no_grad()(lambda: tiny.decode(pair)),
            "Full VAE (SD 1.5 config), 1 image": torch.no_grad()(
                lambda: full.decode(latent / 0.18215)
            ),
        },
        repeats,
    )
    sizes = {
        "AutoencoderTiny (all)": params_m(tiny),
        "AutoencoderTiny decoder": params_m(tiny.decoder),
        "AutoencoderKL decoder": params_m(full.decoder) + params_m(full.post_quant_conv),
    }
    return samples, sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=64, help="the tiny pipeline's image side")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    tiny_root = full_size_tiny_vae(Path(tempfile.mkdtemp()))
    lines = [f"Machine: {machine()}", ""]
    params = recipe(args.size, args.steps)
    pipe = pipeline_case(tiny_root, params, args.repeats)
    off = pipe["previews off"].median
    lines += [
        f"**Tiny SD pipeline (random weights), {params.width}x{params.height}, Euler, "
        f"{params.num_inference_steps} steps, CFG 5; every preview made (x_t and x0 each "
        "step)**",
        "",
        "| variant | median s | spread | ratio to previews off |",
        "|---|---|---|---|",
    ]
    for name, s in pipe.items():
        lines.append(f"| {name} | {s.median:.3f} | ±{s.spread:.1%} | {s.median / off:.2f} |")
    decoders, sizes = decoder_case(tiny_root, args.repeats)
    linear = decoders["Linear map, 1 image"].median
    lines += [
        "",
        "**One 64x64 latent (512 px) through each decoder alone, random weights**",
        "",
        "| decoder | median s | spread | ratio to the linear map |",
        "|---|---|---|---|",
    ]
    for name, s in decoders.items():
        lines.append(f"| {name} | {s.median:.4f} | ±{s.spread:.1%} | {s.median / linear:.0f} |")
    lines += ["", "Parameters: " + ", ".join(f"{k} {v:.2f} M" for k, v in sizes.items()), ""]
    publish("\n".join(lines), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
