"""Prompt encodings computed once: per distinct (encoders, texts) within a job and across jobs,
the negative prompt included, with images bit-identical to encoding every time."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer

from studio.core.engine_options import EngineOptions
from studio.core.events import GridCellFinished, LaneFinished
from studio.core.grid import parse_grid
from studio.core.jobs import CompareJob, GenerateJob, GridJob, Job, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.core.student_refs import AdapterKind, AdapterRef, StudentRef, StudentSampling
from studio.engine.cancel import CancelToken
from studio.engine.loading import shared_text_encoder
from studio.engine.model_cache import ModelCache
from studio.engine.pipeline_loader import PipelineLoader
from studio.engine.prompt_cache import PromptCache
from studio.engine.runner import Runner
from tests.engine.tiny import (
    build_tiny_sd_pipeline,
    build_tiny_sdxl_pipeline,
    save_tiny_emoji_pipeline,
    save_tiny_sd_pipeline,
)
from tests.engine.tiny_families import save_tiny_lora


class Sink:
    def __init__(self) -> None:
        self.events: list = []

    def emit(self, event) -> None:
        self.events.append(event)

    def offer_preview(self, lane, make) -> bool:
        return False

    def lanes(self) -> dict[Lane, LaneFinished]:
        return {e.lane: e for e in self.events if isinstance(e, LaneFinished)}

    def cells(self) -> list[GridCellFinished]:
        return [e for e in self.events if isinstance(e, GridCellFinished)]


@contextmanager
def counting(*encoders: torch.nn.Module) -> Iterator[list[int]]:
    """Counts the forward passes the text encoders really compute while open (a hook on each
    one's first part: CLIP's text model, BERT's embeddings; a cache hit runs neither)."""
    calls = [0]

    def hook(module, args, output) -> None:
        calls[0] += 1

    handles = [next(e.children()).register_forward_hook(hook) for e in encoders]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("prompt-cache")
    sd = save_tiny_sd_pipeline(root / "sd")
    build_tiny_sdxl_pipeline().save_pretrained(root / "sdxl", safe_serialization=True)
    base = PipelineLoader()(ModelRef(location=str(sd), source=ModelSource.folder)).pipe
    return {
        "sd": sd,
        "sd-other": save_tiny_sd_pipeline(root / "sd-other", seed=1),
        "sdxl": root / "sdxl",
        "emoji": save_tiny_emoji_pipeline(root / "emoji"),
        "emoji-other": save_tiny_emoji_pipeline(root / "emoji-other", seed=1),
        "lora": save_tiny_lora(base, root / "adapters" / "lora.safetensors"),
    }


def ref(folders: dict[str, Path], name: str) -> ModelRef:
    return ModelRef(location=str(folders[name]), source=ModelSource.folder)


def lora_student(folders: dict[str, Path]) -> StudentRef:
    path = folders["lora"]
    adapter = AdapterRef(
        kind=AdapterKind.lora, location=str(path.parent), file=path.name, source=ModelSource.folder
    )
    return StudentRef(
        location=str(folders["sd"]),
        source=ModelSource.folder,
        label="lora student",
        adapter=adapter,
        sampling=StudentSampling(),
    )


def params(**kw) -> GenerationParams:
    values = dict(
        prompt="a red cube",
        negative_prompt="blurry",
        sampler="Euler",
        num_inference_steps=2,
        guidance_scale=2.0,
        seed=5,
        width=32,
        height=32,
    )
    return GenerationParams(**{**values, **kw})


def generate(model: ModelRef, **kw) -> GenerateJob:
    return GenerateJob(
        lane=LaneSpec(model=model, params=params(**kw)), previews=PreviewOptions(every=0)
    )


def compare(teacher: ModelRef, student: ModelRef, **kw) -> CompareJob:
    return CompareJob(
        teacher=LaneSpec(model=teacher, params=params(**kw)),
        student=LaneSpec(model=student, params=params(**{"sampler": "Euler trailing", **kw})),
        previews=PreviewOptions(every=0),
    )


def make_runner(cache: PromptCache | None = None) -> Runner:
    return Runner(ModelCache(capacity=4, loader=PipelineLoader()), prompt_cache=cache)


def run(runner: Runner, job: Job) -> Sink:
    sink = Sink()
    runner.run(job, CancelToken(), sink)
    return sink


def encoder_of(runner: Runner, model: ModelRef) -> torch.nn.Module:
    runner.preload(model, Sink())
    return runner.models.get(model)[0].pipe.text_encoder


# --- within a job ------------------------------------------------------------------------------


def test_a_comparison_encodes_each_distinct_prompt_once(folders):
    runner = make_runner()
    teacher, student = ref(folders, "sd"), lora_student(folders)
    runner.preload(student, Sink())
    encoder = encoder_of(runner, teacher)
    assert runner.models.get(student)[0].pipe.text_encoder is encoder, "the student shares it"
    with counting(encoder) as calls:
        run(runner, compare(teacher, student))
    assert calls[0] == 2, "the prompt and the negative prompt, once each for both lanes"
    assert (runner.prompt_cache.misses, runner.prompt_cache.hits) == (2, 2)


def test_a_teacher_with_guidance_and_a_student_without_share_the_prompts_encoding(folders):
    runner = make_runner()
    teacher, student = ref(folders, "sd"), lora_student(folders)
    runner.preload(student, Sink())
    encoder = encoder_of(runner, teacher)
    job = CompareJob(
        teacher=LaneSpec(model=teacher, params=params()),
        student=LaneSpec(model=student, params=params(guidance_scale=1.0)),
        previews=PreviewOptions(every=0),
    )
    with counting(encoder) as calls:
        run(runner, job)
    assert calls[0] == 2 and runner.prompt_cache.hits == 1


def test_an_emoji_comparison_of_two_models_encodes_once(folders):
    runner = make_runner()
    teacher, student = ref(folders, "emoji"), ref(folders, "emoji-other")
    encoder, _ = shared_text_encoder()
    with counting(encoder) as calls:
        run(runner, compare(teacher, student, sampler="DDIM trailing"))
    assert calls[0] == 2, "both models hold the one MiniLM encoder: negative and prompt once each"


def test_an_emoji_teacher_with_guidance_and_a_student_without_share_the_prompts_encoding(folders):
    runner = make_runner()
    teacher, student = ref(folders, "emoji"), ref(folders, "emoji-other")
    job = CompareJob(
        teacher=LaneSpec(model=teacher, params=params(sampler="DDIM trailing")),
        student=LaneSpec(model=student, params=params(sampler="DDIM trailing", guidance_scale=1.0)),
        previews=PreviewOptions(every=0),
    )
    encoder, _ = shared_text_encoder()
    with counting(encoder) as calls:
        run(runner, job)
    assert calls[0] == 2 and runner.prompt_cache.hits == 1


def test_a_grid_encodes_each_distinct_prompt_once_across_its_cells(folders):
    runner = make_runner()
    model = ref(folders, "sd")
    encoder = encoder_of(runner, model)
    grid = GridJob(
        base=LaneSpec(model=model, params=params()),
        grid=parse_grid("sampler=Euler,DDIM", "steps=1,2,3"),
    )
    with counting(encoder) as calls:
        sink = run(runner, grid)
    assert len(sink.cells()) == 6 and all(c.image is not None for c in sink.cells())
    assert calls[0] == 2
    assert (runner.prompt_cache.misses, runner.prompt_cache.hits) == (2, 10)


def test_a_grid_over_two_emoji_models_with_one_encoder_encodes_once(folders):
    runner = make_runner()
    models = {"a": ref(folders, "emoji"), "b": ref(folders, "emoji-other")}
    grid = GridJob(
        base=LaneSpec(model=models["a"], params=params(sampler="DDIM trailing")),
        grid=parse_grid("model=a,b", "steps=1,2", resolve_model=models.__getitem__),
    )
    encoder, _ = shared_text_encoder()
    with counting(encoder) as calls:
        sink = run(runner, grid)
    assert len(sink.cells()) == 4 and calls[0] == 2, "negative and prompt once each"


# --- across jobs -------------------------------------------------------------------------------


def test_repeated_jobs_hit_and_a_new_negative_prompt_misses(folders):
    runner = make_runner()
    model = ref(folders, "sd")
    encoder = encoder_of(runner, model)
    with counting(encoder) as calls:
        run(runner, generate(model))
        run(runner, generate(model, sampler="DDIM", num_inference_steps=3))
        assert calls[0] == 2
        run(runner, generate(model, negative_prompt="dark"))
        assert calls[0] == 3, "another negative prompt is one more encoding"
        run(runner, generate(model, guidance_scale=1.0))
        assert calls[0] == 3, "without guidance only the prompt is encoded, and it is cached"
        run(runner, generate(model, prompt="a blue cube"))
        assert calls[0] == 4, "another prompt is one more encoding"


def test_a_different_text_encoder_misses(folders):
    runner = make_runner()
    one, other = ref(folders, "sd"), ref(folders, "sd-other")
    encoders = encoder_of(runner, one), encoder_of(runner, other)
    with counting(*encoders) as calls:
        run(runner, generate(one))
        run(runner, generate(other))
    assert calls[0] == 4
    assert runner.prompt_cache.hits == 0


def test_configuring_the_engine_clears_the_cache(folders):
    runner = make_runner()
    run(runner, generate(ref(folders, "sd")))
    assert len(runner.prompt_cache) == 2
    runner.configure(EngineOptions())
    assert len(runner.prompt_cache) == 0


# --- bit-identical images ----------------------------------------------------------------------


def images(sink: Sink) -> list[np.ndarray]:
    lanes = sink.lanes()
    return [lanes[lane].images[0] for lane in sorted(lanes, key=lambda lane: lane.value)]


@pytest.mark.parametrize(
    ("teacher", "student", "encodings"),
    [("sd", "lora", 2), ("sdxl", "sdxl", 4), ("emoji", "emoji-other", 2), ("emoji", "emoji", 2)],
)
def test_images_are_bit_identical_with_and_without_the_cache(folders, teacher, student, encodings):
    t = ref(folders, teacher)
    s = lora_student(folders) if student == "lora" else ref(folders, student)
    sampler = "DDIM trailing" if "emoji" in teacher else "Euler"
    job = compare(t, s, sampler=sampler)
    uncached = images(run(make_runner(PromptCache(capacity=0)), job))
    cached_runner = make_runner()
    first = images(run(cached_runner, job))
    again = images(run(cached_runner, job))
    cache = cached_runner.prompt_cache
    assert (cache.misses, cache.hits) == (encodings, 3 * encodings)
    for a, b, c in zip(uncached, first, again, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


# --- the cache itself --------------------------------------------------------------------------


def encode(pipe, cache: PromptCache, prompt: str, negative: str | None = None) -> tuple:
    with cache.serving(pipe):
        return pipe.encode_prompt(prompt, torch.device("cpu"), 1, negative is not None, negative)


def test_the_cache_is_bounded_by_entries_and_bytes():
    pipe = build_tiny_sd_pipeline()
    cache = PromptCache(capacity=2)
    for text in ("a", "b", "c"):
        encode(pipe, cache, text)
    assert len(cache) == 2
    small = PromptCache(capacity=10)
    encode(pipe, small, "a")
    small.max_bytes = small._bytes + 1
    encode(pipe, small, "b")
    assert len(small) == 1


def test_a_hit_returns_equal_tensors_the_caller_may_change_freely():
    pipe = build_tiny_sd_pipeline()
    cache = PromptCache()
    first = encode(pipe, cache, "a cat", "blurry")
    first[0].add_(1.0)
    second = encode(pipe, cache, "a cat", "blurry")
    third = encode(pipe, cache, "a cat", "blurry")
    assert (cache.misses, cache.hits) == (2, 4)
    assert torch.equal(second[0], third[0]) and torch.equal(second[1], third[1])
    assert not torch.equal(first[0], second[0])
    assert "forward" not in pipe.text_encoder.__dict__, "the wrapper is gone after the call"


def test_a_cache_of_no_entries_encodes_every_time():
    pipe = build_tiny_sd_pipeline()
    cache = PromptCache(capacity=0)
    with counting(pipe.text_encoder) as calls:
        encode(pipe, cache, "a cat", "blurry")
        encode(pipe, cache, "a cat", "blurry")
    assert calls[0] == 4 and len(cache) == 0


def lora_layers(module: torch.nn.Module) -> list[BaseTunerLayer]:
    return [m for m in module.modules() if isinstance(m, BaseTunerLayer)]


def test_the_text_encoders_active_lora_and_its_scale_are_part_of_the_key():
    pipe = build_tiny_sd_pipeline()
    cache = PromptCache()
    plain = encode(pipe, cache, "a cat")
    config = LoraConfig(r=2, lora_alpha=2, init_lora_weights=False, target_modules=["q_proj"])
    inject_adapter_in_model(config, pipe.text_encoder)
    adapted = encode(pipe, cache, "a cat")
    assert cache.misses == 2 and not torch.equal(plain[0], adapted[0])
    for layer in lora_layers(pipe.text_encoder):
        layer.set_scale("default", 0.5)
    half = encode(pipe, cache, "a cat")
    assert cache.misses == 3 and not torch.equal(half[0], adapted[0])
    for layer in lora_layers(pipe.text_encoder):
        layer.enable_adapters(False)
    off = encode(pipe, cache, "a cat")
    assert cache.misses == 4 and torch.equal(plain[0], off[0])


def test_an_unloaded_encoder_takes_its_entries_with_it():
    cache = PromptCache()
    pipe = build_tiny_sd_pipeline()
    encode(pipe, cache, "a cat")
    assert len(cache) == 1
    del pipe
    gc.collect()
    encode(build_tiny_sd_pipeline(seed=1), cache, "a cat")
    assert len(cache) == 1 and cache.hits == 0
