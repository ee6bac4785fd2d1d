"""Every shipped preset, run on a tiny stand-in of its family with a tiny adapter of its kind.

The preset's hub ids become tiny saved pipelines of the same pipeline class (SD1.5, SD2, SDXL,
SD3, Flux, LCM), and its adapter file a tiny LoRA or UNet under the same file name; everything
else - scheduler class and overrides, timesteps, steps, guidance, eta, extra call arguments -
is the preset's own, run through the real loader and runner as a teacher/student comparison.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import diffusers
import numpy as np
import pytest

from studio.core.events import LaneFinished
from studio.core.jobs import CompareJob, Lane, LaneSpec, PreviewOptions
from studio.core.model_presets import load_model_presets, student_recipe, student_ref
from studio.core.models import ModelRef, ModelSource
from studio.core.paths import presets_dir
from studio.core.preset_schema import ModelPreset
from studio.core.settings import SharedParams
from studio.core.student_refs import AdapterKind, StudentRef
from studio.engine import sampling as sampling_module
from studio.engine.cancel import CancelToken
from studio.engine.loading import ModelLoadError, load_pipeline
from studio.engine.model_cache import ModelCache
from studio.engine.pipeline_loader import PipelineLoader
from studio.engine.runner import Runner
from studio.engine.samplers import init_defaults
from tests.engine.tiny import (
    build_tiny_sd2_pipeline,
    build_tiny_sd3_pipeline,
    build_tiny_sd_pipeline,
    build_tiny_sdxl_pipeline,
)
from tests.engine.tiny_families import (
    build_tiny_flux_pipeline,
    build_tiny_lcm_pipeline,
    perturbed_unet,
    save_tiny_lora,
    save_tiny_unet,
)

PRESETS = load_model_presets(presets_dir(), None).presets
SIDE = 32
TEACHER_STEPS = 2
BUILDERS = {
    ("sd15", "StableDiffusionPipeline"): build_tiny_sd_pipeline,
    ("sd15", "LatentConsistencyModelPipeline"): build_tiny_lcm_pipeline,
    ("sd21", "StableDiffusionPipeline"): build_tiny_sd2_pipeline,
    ("sdxl", "StableDiffusionXLPipeline"): build_tiny_sdxl_pipeline,
    ("sd3", "StableDiffusion3Pipeline"): build_tiny_sd3_pipeline,
    ("flux", "FluxPipeline"): lambda seed: build_tiny_flux_pipeline(seed, guidance=seed == 0),
}
TEACHER_PIPELINES = {family: pipeline for family, pipeline in BUILDERS if "Latent" not in pipeline}


class StandIns:
    """Tiny saved pipelines, one per family, pipeline class and seed, built once per module."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[tuple[str, str, int], Path] = {}

    def folder(self, family: str, pipeline: str, seed: int) -> Path:
        key = (family, pipeline, seed)
        if key not in self._folders:
            folder = self.root / f"{family}-{pipeline}-{seed}"
            BUILDERS[(family, pipeline)](seed).save_pretrained(folder, safe_serialization=True)
            self._folders[key] = folder
        return self._folders[key]


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> StandIns:
    return StandIns(tmp_path_factory.mktemp("families"))


def tiny_adapter(preset: ModelPreset, student_folder: Path, where: Path) -> Path:
    """A tiny file of the preset's adapter kind under the preset's own file name."""
    adapter = preset.adapter
    assert adapter is not None
    pipe = load_pipeline(ModelRef(location=str(student_folder))).pipe
    path = where / adapter.file
    if adapter.kind is AdapterKind.lora:
        return save_tiny_lora(pipe, path)
    unet = pipe.unet
    if adapter.unet_config == "adapter":
        config = {**dict(unet.config), "time_cond_proj_dim": 8}
        unet = type(unet).from_config(config)
    return save_tiny_unet(perturbed_unet(unet), path, pickle=not path.name.endswith(".safetensors"))


def stand_in_refs(
    preset: ModelPreset, stand_ins: StandIns, where: Path
) -> tuple[ModelRef, StudentRef]:
    teacher_folder = stand_ins.folder(preset.family, TEACHER_PIPELINES[preset.family], 0)
    same = preset.student == preset.base
    student_folder = teacher_folder if same else stand_ins.folder(preset.family, preset.pipeline, 1)
    ref = student_ref(preset)
    adapter = ref.adapter
    if adapter is not None:
        path = tiny_adapter(preset, student_folder, where)
        adapter = dataclasses.replace(
            adapter,
            location=str(where),
            source=ModelSource.folder,
            allow_pickle=path.suffix != ".safetensors",
        )
    student = dataclasses.replace(
        ref, location=str(student_folder), source=ModelSource.folder, adapter=adapter
    )
    return ModelRef(location=str(teacher_folder), source=ModelSource.folder), student


def lane_params(preset: ModelPreset):
    shared = SharedParams(prompt="a cat", seed=1, width=SIDE, height=SIDE)
    teacher = dataclasses.replace(
        preset.teacher, num_inference_steps=min(TEACHER_STEPS, preset.teacher.num_inference_steps)
    )
    return teacher.params(shared), student_recipe(preset).params(shared)


class Sink:
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)

    def offer_preview(self, lane, make):
        return False

    def finished(self, lane: Lane) -> LaneFinished:
        return next(e for e in self.events if isinstance(e, LaneFinished) and e.lane is lane)


def check_scheduler(preset: ModelPreset, scheduler, base_config: dict) -> None:
    """The student's scheduler is `SchedulerClass.from_config(base_config, **overrides)`."""
    cls = getattr(diffusers, preset.scheduler)
    assert isinstance(scheduler, cls), (type(scheduler).__name__, preset.scheduler)
    overrides = dict(preset.scheduler_overrides)
    expected = cls.from_config(base_config, **overrides).config
    for key in init_defaults(cls):
        assert scheduler.config[key] == expected[key], key
    for key, value in overrides.items():
        assert scheduler.config[key] == value, key


@pytest.mark.parametrize("preset", PRESETS, ids=[p.name for p in PRESETS])
def test_preset_runs_on_a_tiny_stand_in_of_its_family(preset, stand_ins, tmp_path, monkeypatch):
    teacher, student = stand_in_refs(preset, stand_ins, tmp_path)
    seen: list[dict] = []
    original = sampling_module.call_kwargs

    def spy(*args, **kwargs):
        seen.append(original(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(sampling_module, "call_kwargs", spy)
    runner = Runner(ModelCache(capacity=4, loader=PipelineLoader()))
    t_params, s_params = lane_params(preset)
    job = CompareJob(
        teacher=LaneSpec(model=teacher, params=t_params),
        student=LaneSpec(model=student, params=s_params),
        previews=PreviewOptions(every=0),
    )
    sink = Sink()
    runner.run(job, CancelToken(), sink)

    t_done, s_done = sink.finished(Lane.teacher), sink.finished(Lane.student)
    assert s_done.steps == preset.num_inference_steps
    assert t_done.images[0].shape == s_done.images[0].shape == (SIDE, SIDE, 3)
    assert not np.array_equal(t_done.images[0], s_done.images[0])
    t_model, _ = runner.models.get(teacher)
    s_model, _ = runner.models.get(student)
    assert type(s_model.pipe).__name__ == preset.pipeline
    check_scheduler(preset, s_model.pipe.scheduler, s_model.base.base_scheduler_config)
    call = seen[0]  # a comparison runs its student lane first
    assert call["num_inference_steps"] == preset.num_inference_steps
    assert call["guidance_scale"] == preset.guidance_scale
    for key, value in preset.call_kwargs:
        assert call[key] == value, key
    if preset.eta:
        assert call["eta"] == preset.eta
    if preset.timesteps:
        assert call["timesteps"] == list(preset.timesteps)
        assert s_model.pipe.scheduler.timesteps.tolist() == list(preset.timesteps)
    if preset.student == preset.base:
        assert s_model.pipe.vae is t_model.pipe.vae
        assert s_model.pipe.text_encoder is t_model.pipe.text_encoder


PICKLED = [
    p for p in PRESETS if p.adapter is not None and not p.adapter.file.endswith(".safetensors")
]


@pytest.mark.parametrize("preset", PICKLED, ids=[p.name for p in PICKLED])
def test_a_pickled_student_is_refused_without_the_users_opt_in(preset, stand_ins, tmp_path):
    _, student = stand_in_refs(preset, stand_ins, tmp_path)
    assert student.adapter is not None
    refused = dataclasses.replace(
        student, adapter=dataclasses.replace(student.adapter, allow_pickle=False)
    )
    with pytest.raises(ModelLoadError, match="allow_pickle"):
        PipelineLoader()(refused)
