"""Gamma tables for real pipelines: estimated once, cached on disk, recovered from bad files,
and both analytic-variance samplers run through the runner on tiny SD and zero-SNR emoji models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.events import LaneFinished, PrepareProgress, StepProgress
from studio.core.jobs import GenerateJob, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.analytic.estimate import EstimateOptions
from studio.engine.analytic.sources import check_supported, default_emoji_dataset
from studio.engine.analytic.store import model_fingerprint
from studio.engine.analytic.tables import ESTIMATING_TASK, SAMPLING_TASK, GammaTables
from studio.engine.cancel import Cancelled, CancelToken
from studio.engine.loading import load_pipeline
from studio.engine.model_cache import ModelCache
from studio.engine.runner import Runner
from studio.engine.samplers import SamplerError
from studio.lab.emoji_cache import dataset_filename
from studio.lab.emoji_cache import default_cache_dir as lab_dataset_dir
from studio.lab.emoji_concepts import SOURCES
from tests.engine.tiny import save_tiny_emoji_pipeline, save_tiny_sd_pipeline

SMALL = EstimateOptions(grid_points=4, samples=4, batch_size=4)
ANALYTIC = ("DDPM (analytic variance)", "DDIM eta + analytic variance")


class Collector:
    """An EventSink that keeps every event and can act on each one."""

    def __init__(self, on_event=None) -> None:
        self.events: list = []
        self.on_event = on_event

    def emit(self, event) -> None:
        self.events.append(event)
        if self.on_event:
            self.on_event(event)

    def offer_preview(self, lane, make) -> bool:
        return False

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(scope="module")
def refs(tmp_path_factory) -> dict[str, ModelRef]:
    root = tmp_path_factory.mktemp("analytic-models")
    folders = {
        "sd": save_tiny_sd_pipeline(root / "tiny-sd"),
        "emoji": save_tiny_emoji_pipeline(root / "tiny-emoji"),
    }
    return {k: ModelRef(location=str(v), source=ModelSource.folder) for k, v in folders.items()}


@pytest.fixture
def tables(tmp_path) -> GammaTables:
    return GammaTables(cache_dir=tmp_path / "analytic", options=SMALL, dataset=tmp_path / "no.npz")


def params(model: str, sampler: str, **kw) -> GenerationParams:
    size = 64 if model == "sd" else 32
    base = dict(prompt="a red cube", sampler=sampler, num_inference_steps=3, eta=0.5)
    return GenerationParams(**{**base, "width": size, "height": size, "seed": 3, **kw})


def generate(runner: Runner, ref: ModelRef, p: GenerationParams, token=None, on_event=None):
    sink = Collector(on_event)
    job = GenerateJob(lane=LaneSpec(model=ref, params=p), previews=PreviewOptions(every=0))
    runner.run(job, token or CancelToken(), sink)
    return sink


@pytest.mark.parametrize("sampler", ANALYTIC)
@pytest.mark.parametrize("model", ["sd", "emoji"])
def test_both_samplers_run_on_tiny_pipelines_without_nan(refs, tables, model, sampler):
    runner = Runner(ModelCache(capacity=1), gamma_tables=tables)
    for steps in (1, 3, 7):
        sink = generate(runner, refs[model], params(model, sampler, num_inference_steps=steps))
        finished = sink.of(LaneFinished)[0]
        assert finished.steps == steps
        assert finished.images[0].std() > 0
    table = tables.table_for(runner.models.get(refs[model])[0])
    assert np.isfinite(table.grid_x0_variance()).all()
    assert table.source.startswith("model samples")


def test_the_table_is_estimated_once_with_progress_then_cached(refs, tables):
    ref = refs["emoji"]
    runner = Runner(ModelCache(capacity=1), gamma_tables=tables)
    first = generate(runner, ref, params("emoji", ANALYTIC[0]))
    progress = first.of(PrepareProgress)
    assert {e.task for e in progress} == {SAMPLING_TASK, ESTIMATING_TASK}
    assert progress[-1].done == progress[-1].total == 4
    assert first.events.index(progress[-1]) < first.events.index(first.of(StepProgress)[0])
    assert len(list(tables.cache_dir.glob("gamma-*.npz"))) == 1
    assert generate(runner, ref, params("emoji", ANALYTIC[1])).of(PrepareProgress) == []
    fresh = Runner(ModelCache(capacity=1), gamma_tables=GammaTables(**_same(tables)))
    again = generate(fresh, ref, params("emoji", ANALYTIC[0]))
    assert again.of(PrepareProgress) == []
    np.testing.assert_array_equal(image(first), image(again))


def image(sink: Collector) -> np.ndarray:
    return sink.of(LaneFinished)[0].images[0]


def _same(tables: GammaTables) -> dict:
    return {"cache_dir": tables.cache_dir, "options": tables.options, "dataset": tables.dataset}


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not a zip file"),
        lambda path: path.write_bytes(path.read_bytes()[:40]),
        lambda path: path.write_bytes(b""),
    ],
    ids=["garbage", "truncated", "empty"],
)
def test_a_bad_cache_file_is_recomputed_never_fatal(refs, tables, damage):
    loaded = load_pipeline(refs["emoji"], device="cpu")
    good = tables.table_for(loaded)
    path = tables.path_for(loaded)
    damage(path)
    recovered = GammaTables(**_same(tables)).table_for(loaded)
    np.testing.assert_allclose(recovered.gamma, good.gamma)
    assert GammaTables(**_same(tables)).table_for(loaded, progress=_no_estimate) is not None


def _no_estimate(task: str, done: int, total: int) -> None:
    raise AssertionError("the repaired cache file should have been used")


def test_a_cache_file_of_another_model_is_not_used(refs, tables):
    sd = load_pipeline(refs["sd"], device="cpu")
    emoji = load_pipeline(refs["emoji"], device="cpu")
    tables.table_for(sd)
    shutil.copy(tables.path_for(sd), tables.path_for(emoji))
    table = GammaTables(**_same(tables)).table_for(emoji)
    assert table.alphas_cumprod[-1] == 0.0, "the emoji model's own zero-SNR schedule"


def test_the_key_follows_the_weights_not_the_folder(refs, tmp_path):
    original = Path(refs["emoji"].location)
    copy = shutil.copytree(original, tmp_path / "copy")
    copy_ref = ModelRef(location=str(copy), source=ModelSource.folder)
    a = load_pipeline(refs["emoji"], device="cpu").pipe
    b = load_pipeline(copy_ref, device="cpu").pipe
    assert model_fingerprint(a) == model_fingerprint(b)
    changed = load_pipeline(copy_ref, device="cpu").pipe
    with torch.no_grad():
        next(changed.unet.parameters()).view(-1)[0] += 1.0
    assert model_fingerprint(changed) != model_fingerprint(a)


def test_cancelling_during_the_estimate_stops_it_and_caches_nothing(refs, tables):
    token = CancelToken()

    def cancel_on_progress(event):
        if isinstance(event, PrepareProgress):
            token.cancel()

    runner = Runner(ModelCache(capacity=1), gamma_tables=tables)
    with pytest.raises(Cancelled):
        generate(runner, refs["emoji"], params("emoji", ANALYTIC[0]), token, cancel_on_progress)
    assert not list(tables.cache_dir.glob("*.npz"))


def test_emoji_models_use_the_dataset_cache_when_it_exists(refs, tmp_path):
    dataset = tmp_path / "emoji.npz"
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    captions = np.array([f"thing {i}, objects, tool, noto style" for i in range(6)])
    np.savez(dataset, images=images, captions=captions)
    tables = GammaTables(cache_dir=tmp_path / "analytic", options=SMALL, dataset=dataset)
    table = tables.table_for(load_pipeline(refs["emoji"], device="cpu"))
    assert table.source.startswith("emoji dataset emoji.npz") and table.samples == 4
    uniform_variance = (2 / 255) ** 2 * (256**2 - 1) / 12
    assert 0.5 * uniform_variance < table.data_var < 1.5 * uniform_variance


def test_a_broken_dataset_is_a_clear_error(refs, tmp_path):
    dataset = tmp_path / "emoji.npz"
    dataset.write_bytes(b"broken")
    tables = GammaTables(cache_dir=tmp_path / "analytic", options=SMALL, dataset=dataset)
    with pytest.raises(SamplerError, match="cannot be read"):
        tables.table_for(load_pipeline(refs["emoji"], device="cpu"))


def test_other_pipelines_are_refused_in_one_sentence():
    with pytest.raises(SamplerError, match=r"emoji models and Stable Diffusion 1\.x/2\.x only"):
        check_supported(object(), "flux-dev")


def test_the_default_dataset_is_where_the_lab_builds_it():
    assert default_emoji_dataset() == lab_dataset_dir() / dataset_filename(SOURCES, 32)
