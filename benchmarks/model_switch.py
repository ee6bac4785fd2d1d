"""Memory across model switches: does switching models give the previous one's memory back?

Through the real engine (an EngineHost with the worker's Runner, ModelCache and PipelineLoader;
the cache's byte budget holds one of the two models, not both), alternates the embedded emoji
teacher with a second, larger SD-1.x-shaped pipeline (random weights, about 235 MB in float32,
written to a temporary folder by a child process so that building it leaves nothing in this
process's heap), generating one image after each load. Records this process's RSS
(/proc/self/statm) after the first load and after every switch, and the cache's own count of
the weights it holds.
Run: `python -m benchmarks.model_switch [--switches 20] [--budget-mb 300] [--markdown FILE]`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.common import machine
from studio.cli.headless import run_job
from studio.core.atomic import atomic_write_text
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import EMBEDDED_TEACHER, ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.memory import MB, MemoryBudget, rss_bytes
from studio.engine.model_cache import ModelCache
from studio.engine.pipeline_loader import PipelineLoader
from studio.engine.runner import Runner
from studio.worker.host import EngineHost

TOKENIZER = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny-clip-tokenizer"
TARGET_MB = 100
PROMPTS = {EMBEDDED_TEACHER: "grinning face, smileys & emotion, face smiling, noto style"}


def write_second_model(folder: Path) -> None:
    """An SD-1.x-shaped pipeline with random weights: UNet (96, 192, 384), small VAE and CLIP."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    tokenizer = CLIPTokenizer(
        str(TOKENIZER / "vocab.json"), str(TOKENIZER / "merges.txt"), model_max_length=77
    )
    text_config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=256,
        intermediate_size=1024,
        num_attention_heads=4,
        num_hidden_layers=4,
        max_position_embeddings=77,
        vocab_size=len(tokenizer),
        projection_dim=256,
    )
    unet = UNet2DConditionModel(
        block_out_channels=(96, 192, 384),
        layers_per_block=2,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=256,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=(64, 128),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=32,
    )
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_config),
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


@dataclass(frozen=True, slots=True)
class Row:
    """Memory after one load and its image."""

    index: int
    model: str
    load_s: float
    rss_mb: float
    cached: int
    weights_mb: float
    gpu_mb: float


class Bench:
    """An EngineHost whose runner is kept, to read its model cache between jobs."""

    def __init__(self, budget: MemoryBudget, device: str) -> None:
        cache = ModelCache(loader=PipelineLoader(), budget=budget, device=device)
        self.runner = Runner(cache)
        self.host = EngineHost(runner_factory=lambda: self.runner)

    def generate(self, ref: ModelRef, index: int) -> Row:
        params = GenerationParams(
            prompt=PROMPTS.get(ref.display_name, "a red cube on a table"),
            sampler="Euler",
            num_inference_steps=4,
            guidance_scale=1.0,
            seed=index,
            width=32,
            height=32,
        )
        job = GenerateJob(lane=LaneSpec(model=ref, params=params), previews=PreviewOptions(every=0))
        report = run_job(job, progress=False, host=self.host)
        if report.failure or not report.lanes:
            raise SystemExit(f"{ref.display_name}: {report.failure or 'no image'}")
        (lane,) = report.lanes.values()
        cache = self.runner.models
        usage = cache.usage()
        gpu = torch.cuda.memory_allocated() / MB if torch.cuda.is_available() else 0.0
        return Row(
            index=index,
            model=ref.display_name,
            load_s=lane.timings.load_s,
            rss_mb=rss_bytes() / MB,
            cached=len(cache),
            weights_mb=(usage.ram + usage.gpu) / MB,
            gpu_mb=gpu,
        )


def measure(switches: int, budget_mb: int, device: str, folder: Path) -> tuple[float, list[Row]]:
    second = ModelRef(location=str(folder), source=ModelSource.folder, label="sd-mid")
    models = (ModelRef.embedded(EMBEDDED_TEACHER), second)
    budget = MemoryBudget(ram_bytes=budget_mb * MB, gpu_bytes=budget_mb * MB, max_models=4)
    bench = Bench(budget, device)
    try:
        baseline = rss_bytes() / MB
        rows = []
        for index in range(switches + 1):
            rows.append(bench.generate(models[index % 2], index))
            print(_line(rows[-1]), flush=True)
    finally:
        bench.host.close()
    return baseline, rows


def _line(row: Row) -> str:
    what = "first load" if row.index == 0 else f"switch {row.index}"
    return (
        f"| {what} | {row.model} | {row.load_s:.2f} | {row.rss_mb:.0f} | {row.cached} "
        f"| {row.weights_mb:.0f} | {row.gpu_mb:.0f} |"
    )


def summary(baseline: float, rows: list[Row], budget_mb: int) -> str:
    first, last = rows[0], rows[-1]
    growth = last.rss_mb - first.rss_mb
    per_model = {}
    for row in rows:
        per_model.setdefault(row.model, []).append(row.rss_mb)
    spreads = ", ".join(
        f"{name}: first {values[0]:.0f} MB, last {values[-1]:.0f} MB, "
        f"max {max(values):.0f} MB over {len(values)} loads"
        for name, values in per_model.items()
    )
    met = "met" if abs(growth) <= TARGET_MB and last.model == first.model else "NOT met"
    return "\n".join(
        [
            f"RSS before any model: {baseline:.0f} MB; cache budget {budget_mb} MB, one model.",
            f"First load ({first.model}): {first.rss_mb:.0f} MB. After {last.index} switches "
            f"({last.model}): {last.rss_mb:.0f} MB. Max: {max(r.rss_mb for r in rows):.0f} MB.",
            f"Growth after {last.index} switches: {growth:+.0f} MB "
            f"(target within {TARGET_MB} MB: {met}).",
            f"Per model: {spreads}.",
        ]
    )


HEADER = (
    "| after | model loaded | load s | RSS MB | models cached | cached weights MB | GPU MB |\n"
    "|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--budget-mb", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--write-model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_model:
        write_second_model(args.write_model)
        return
    with tempfile.TemporaryDirectory(prefix="studio-switch-") as tmp:
        folder = Path(tmp) / "sd-mid"
        command = [sys.executable, "-m", "benchmarks.model_switch", "--write-model", str(folder)]
        subprocess.run(command, check=True)
        started = time.strftime("%Y-%m-%d %H:%M")
        print(f"{started} · {machine()}\n{HEADER}", flush=True)
        baseline, rows = measure(args.switches, args.budget_mb, args.device, folder)
    text = summary(baseline, rows, args.budget_mb)
    print(text)
    if args.markdown:
        table = "\n".join([HEADER, *(_line(r) for r in rows)])
        atomic_write_text(args.markdown, f"{started} · {machine()}\n\n{table}\n\n{text}\n")


if __name__ == "__main__":
    main()
