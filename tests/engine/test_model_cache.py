"""The model cache: a byte budget evicts least recently used models, never the ones in use, and
an evicted pipeline is really gone (no reference survives a job, a cancel or a failure)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import pytest
import torch

from studio.core.events import JobCancelled, JobFailed, JobFinished
from studio.core.jobs import CompareJob, GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.cancel import CancelToken
from studio.engine.loading import LoadedModel
from studio.engine.memory import Footprint, MemoryBudget, footprint
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.worker.host import EngineHost

FLOAT_BYTES = 4


class FakePipe:
    """Just what the cache measures: named torch modules."""

    def __init__(self, floats: int) -> None:
        self.components = {"unet": torch.nn.Linear(floats, 1, bias=False)}


class FakeLoader:
    """Loads FakePipes of a size per model name; records what was cached at each load."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.cache: ModelCache | None = None
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.fail_once: set[str] = set()
        self.shared: torch.nn.Module | None = None

    def __call__(self, ref: ModelRef, device: str = "auto") -> LoadedModel:
        held = tuple(r.location for r in self.cache or ())
        self.calls.append((ref.location, held))
        if ref.location in self.fail_once:
            self.fail_once.discard(ref.location)
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        pipe = FakePipe(self.sizes[ref.location])
        if self.shared is not None:
            pipe.components["text_encoder"] = self.shared
        return LoadedModel(
            pipe=pipe,  # type: ignore[arg-type]
            ref=ref,
            kind="vp",  # type: ignore[arg-type]
            family="fake",
            device=torch.device("cpu"),
            dtype=torch.float32,
            load_s=0.0,
            latent_format="none",
            base_scheduler_config={},
        )


def ref(name: str) -> ModelRef:
    return ModelRef(location=name, source=ModelSource.folder)


def fake_cache(sizes: dict[str, int], ram_floats: int, max_models: int = 8):
    loader = FakeLoader(sizes)
    budget = MemoryBudget(ram_bytes=ram_floats * FLOAT_BYTES, gpu_bytes=0, max_models=max_models)
    cache = ModelCache(loader=loader, budget=budget)
    loader.cache = cache
    return cache, loader


def names(cache: ModelCache) -> list[str]:
    return [r.location for r in cache]


def test_byte_budget_evicts_least_recently_used_first():
    cache, _ = fake_cache({"a": 400, "b": 400, "c": 400}, ram_floats=1000)
    cache.get(ref("a"))
    cache.get(ref("b"))
    cache.get(ref("a"))
    cache.get(ref("c"))
    assert names(cache) == ["a", "c"]
    assert cache.usage() == Footprint(ram=800 * FLOAT_BYTES)


def test_models_in_use_are_kept_over_budget():
    cache, _ = fake_cache({"a": 600, "b": 600, "c": 600}, ram_floats=1000)
    cache.get(ref("a"))
    cache.get(ref("b"), keep=(ref("a"),))
    assert names(cache) == ["a", "b"]
    cache.get(ref("c"), keep=(ref("a"),))
    assert names(cache) == ["a", "c"]


def test_a_model_larger_than_the_budget_still_loads_alone():
    cache, _ = fake_cache({"a": 100, "big": 5000}, ram_floats=1000)
    cache.get(ref("a"))
    loaded, fresh = cache.get(ref("big"))
    assert fresh and names(cache) == ["big"] and loaded.ref == ref("big")


def test_count_cap_holds_even_when_bytes_fit():
    cache, _ = fake_cache({"a": 1, "b": 1, "c": 1}, ram_floats=1000, max_models=2)
    for name in "abc":
        cache.get(ref(name))
    assert names(cache) == ["b", "c"]


def test_a_known_size_is_evicted_for_before_loading():
    cache, loader = fake_cache({"a": 600, "b": 600}, ram_floats=1000)
    cache.get(ref("a"))
    cache.get(ref("b"))
    cache.get(ref("a"))
    assert loader.calls == [("a", ()), ("b", ("a",)), ("a", ())]
    assert names(cache) == ["a"]


def test_weights_shared_with_cached_models_count_once_before_loading():
    cache, loader = fake_cache({"a": 100, "b": 100, "c": 100}, ram_floats=1000, max_models=2)
    loader.shared = torch.nn.Linear(600, 1, bias=False)
    for name in "abca":
        cache.get(ref(name))
    assert loader.calls[-1] == ("a", ("c",))
    assert names(cache) == ["c", "a"]
    assert cache.usage() == Footprint(ram=800 * FLOAT_BYTES)


def test_out_of_memory_while_loading_frees_unused_models_and_retries():
    cache, loader = fake_cache({"a": 10, "b": 10, "c": 10}, ram_floats=1000)
    cache.get(ref("a"))
    cache.get(ref("b"))
    loader.fail_once.add("c")
    cache.get(ref("c"), keep=(ref("b"),))
    assert names(cache) == ["b", "c"]
    assert loader.calls[-2:] == [("c", ("a", "b")), ("c", ("b",))]


def test_out_of_memory_with_nothing_to_free_is_raised():
    cache, loader = fake_cache({"a": 10}, ram_floats=1000)
    loader.fail_once.add("a")
    with pytest.raises(RuntimeError, match="out of memory"):
        cache.get(ref("a"))


def test_shared_weights_count_once():
    shared = torch.nn.Linear(100, 1, bias=False)
    one, two = FakePipe(50), FakePipe(50)
    one.components["text_encoder"] = two.components["text_encoder"] = shared
    assert footprint([one, two]) == Footprint(ram=(50 + 50 + 100) * FLOAT_BYTES)


def test_offloaded_weights_count_as_ram():
    accelerate = pytest.importorskip("accelerate")
    pipe = FakePipe(256)
    accelerate.cpu_offload(pipe.components["unet"], execution_device=torch.device("cpu"))
    assert pipe.components["unet"].weight.device.type == "meta"
    assert footprint([pipe]) == Footprint(ram=256 * FLOAT_BYTES)


# --- real tiny pipelines: evicted means gone -------------------------------------------------


class Drop:
    def emit(self, event) -> None:
        pass

    def offer_preview(self, lane, make) -> bool:
        return False


def params(prompt: str = "a red cube", steps: int = 2) -> GenerationParams:
    return GenerationParams(
        prompt=prompt,
        sampler="Euler",
        num_inference_steps=steps,
        guidance_scale=2.0,
        seed=3,
        width=32,
        height=32,
    )


def one_model_cache() -> ModelCache:
    """A budget of one byte: every load evicts every model not in use."""
    return ModelCache(budget=MemoryBudget(ram_bytes=1, gpu_bytes=1, max_models=4), device="cpu")


def watch(loaded: LoadedModel) -> list[weakref.ref]:
    pipe: object = loaded.pipe
    return [weakref.ref(pipe), *(weakref.ref(m) for m in modules_of(loaded))]


def modules_of(loaded: LoadedModel) -> list[torch.nn.Module]:
    parts = loaded.pipe.components.values()
    return [m for m in parts if isinstance(m, torch.nn.Module)]


def alive(refs: list[weakref.ref]) -> list[object]:
    gc.collect()
    return [r() for r in refs if r() is not None]


@pytest.fixture(scope="module")
def refs(tiny_sd_folder: Path, tmp_path_factory) -> dict[str, ModelRef]:
    from tests.engine.tiny import save_tiny_sd_pipeline

    other = save_tiny_sd_pipeline(tmp_path_factory.mktemp("other") / "tiny-sd-2", seed=1)
    return {
        "sd": ModelRef(location=str(tiny_sd_folder), source=ModelSource.folder),
        "other": ModelRef(location=str(other), source=ModelSource.folder),
    }


def test_evicted_pipeline_is_released_after_jobs(refs):
    cache = one_model_cache()
    runner = Runner(cache)
    spec = LaneSpec(model=refs["sd"], params=params())
    runner.run(GenerateJob(lane=spec), CancelToken(), Drop())
    student = LaneSpec(model=refs["sd"], params=params().with_(sampler="DDIM"))
    runner.run(CompareJob(teacher=spec, student=student), CancelToken(), Drop())
    watched = watch(cache.get(refs["sd"])[0])
    other = LaneSpec(model=refs["other"], params=params())
    runner.run(GenerateJob(lane=other), CancelToken(), Drop())
    assert names(cache) == [refs["other"].location]
    assert alive(watched) == []


def test_shared_text_encoder_stays_loaded(tiny_emoji_folder, refs):
    from studio.engine.loading import shared_text_encoder

    cache = one_model_cache()
    emoji = ModelRef(location=str(tiny_emoji_folder), source=ModelSource.folder)
    watched = watch(cache.get(emoji)[0])
    encoder = weakref.ref(shared_text_encoder()[0])
    cache.get(refs["sd"])
    assert alive(watched) == [encoder()]


class TroubleRunner(Runner):
    """A runner whose denoiser, inside `pipe(...)`, raises (`fail`) or cancels its job
    (`cancel`) at the first step, as a user or a broken model would."""

    mode = ""

    def sample(self, call, token, sink):

        def trouble(module, args):
            if self.mode == "fail":
                raise RuntimeError("a failure inside the pipeline")
            token.cancel()

        hook = call.loaded.pipe.unet.register_forward_pre_hook(trouble) if self.mode else None
        try:
            return super().sample(call, token, sink)
        finally:
            if hook is not None:
                hook.remove()


class HostProbe:
    """Runs jobs through a real EngineHost and keeps its runner, to look into its cache."""

    def __init__(self) -> None:
        self.runner = TroubleRunner(one_model_cache())
        self.host = EngineHost(runner_factory=lambda: self.runner)

    def run(self, job, mode: str = "") -> object:
        self.runner.mode = mode

        async def follow():
            self.host.submit(job)
            async for event in self.host.listen():
                if isinstance(event, JobFinished | JobCancelled | JobFailed):
                    return event

        return asyncio.run(follow())


def test_host_releases_models_after_cancelled_and_failed_jobs(refs):
    probe = HostProbe()
    try:
        spec = LaneSpec(model=refs["sd"], params=params(steps=4))
        job = GenerateJob(lane=spec, previews=PreviewOptions(every=1))
        assert isinstance(probe.run(job), JobFinished)
        watched = watch(probe.runner.models.get(refs["sd"])[0])
        assert isinstance(probe.run(GenerateJob(lane=spec), "cancel"), JobCancelled)
        assert isinstance(probe.run(GenerateJob(lane=spec), "fail"), JobFailed)
        other = GenerateJob(lane=LaneSpec(model=refs["other"], params=params()))
        assert isinstance(probe.run(other), JobFinished)
        assert alive(watched) == []
    finally:
        probe.host.close()
