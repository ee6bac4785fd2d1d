"""Students on a teacher: a LoRA for the student lane only, a full UNet sharing the rest."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.events import LaneFinished
from studio.core.jobs import CompareJob, GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.core.student_refs import AdapterKind, AdapterRef, StudentRef, StudentSampling
from studio.engine.cancel import CancelToken
from studio.engine.loading import ModelLoadError, load_pipeline
from studio.engine.memory import footprint
from studio.engine.model_cache import ModelCache
from studio.engine.pipeline_loader import PipelineLoader
from studio.engine.runner import Runner
from studio.engine.students import activate_lane, lora_adapters, student_call_kwargs
from tests.engine.tiny import build_tiny_sd3_pipeline, save_tiny_sd_pipeline
from tests.engine.tiny_families import perturbed_unet, save_tiny_lora, save_tiny_unet

PROMPT = "a red cube"


class Sink:
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)

    def offer_preview(self, lane, make):
        return False

    def images(self, lane: Lane) -> np.ndarray:
        return next(
            e for e in self.events if isinstance(e, LaneFinished) and e.lane is lane
        ).images[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("students")
    base = save_tiny_sd_pipeline(root / "tiny-sd")
    plain = load_pipeline(ModelRef(location=str(base)))
    unet = perturbed_unet(plain.pipe.unet)
    return {
        "base": base,
        "lora": save_tiny_lora(plain.pipe, root / "adapters" / "lora.safetensors"),
        "lora2": save_tiny_lora(plain.pipe, root / "adapters" / "lora2.safetensors", seed=9),
        "unet": save_tiny_unet(unet, root / "unet" / "student_unet.safetensors"),
        "pickle_unet": save_tiny_unet(unet, root / "unet-bin" / "student_unet.bin", pickle=True),
        "sd3_lora": save_tiny_lora(build_tiny_sd3_pipeline(), root / "sd3" / "lora.safetensors"),
    }


def teacher(files) -> ModelRef:
    return ModelRef(location=str(files["base"]), source=ModelSource.folder)


def student(files, key: str, kind: AdapterKind = AdapterKind.lora, **sampling) -> StudentRef:
    path = files[key]
    adapter = AdapterRef(
        kind=kind, location=str(path.parent), file=path.name, source=ModelSource.folder
    )
    return StudentRef(
        location=str(files["base"]),
        source=ModelSource.folder,
        label=f"student {key}",
        adapter=adapter,
        sampling=StudentSampling(**sampling),
    )


def params(**kw) -> GenerationParams:
    values = dict(prompt=PROMPT, sampler="Euler", num_inference_steps=3, guidance_scale=2.0, seed=5)
    return GenerationParams(**{**values, "width": 32, "height": 32, **kw})


def run_alone(runner: Runner, ref: ModelRef) -> np.ndarray:
    sink = Sink()
    job = GenerateJob(lane=LaneSpec(model=ref, params=params()), previews=PreviewOptions(every=0))
    runner.run(job, CancelToken(), sink)
    return sink.images(Lane.main)


def compare(runner: Runner, t: ModelRef, s: ModelRef) -> tuple[np.ndarray, np.ndarray]:
    sink = Sink()
    job = CompareJob(
        teacher=LaneSpec(model=t, params=params()),
        student=LaneSpec(model=s, params=params(sampler="Euler trailing")),
        previews=PreviewOptions(every=0),
    )
    runner.run(job, CancelToken(), sink)
    return sink.images(Lane.teacher), sink.images(Lane.student)


def shared_runner() -> Runner:
    return Runner(ModelCache(capacity=4, loader=PipelineLoader()))


def test_lora_changes_the_student_lane_only(files):
    without_any_adapter = run_alone(Runner(ModelCache(capacity=1)), teacher(files))
    runner = shared_runner()
    t_image, s_image = compare(runner, teacher(files), student(files, "lora"))
    np.testing.assert_array_equal(t_image, without_any_adapter)
    assert np.abs(s_image.astype(int) - t_image.astype(int)).max() > 0
    np.testing.assert_array_equal(run_alone(runner, teacher(files)), without_any_adapter)
    t_model, _ = runner.models.get(teacher(files))
    s_model, _ = runner.models.get(student(files, "lora"))
    assert s_model.pipe.unet is t_model.pipe.unet, "the LoRA lives on the teacher's own UNet"
    assert lora_adapters(t_model.pipe) == {s_model.lora_adapter}


def float_image(loaded) -> np.ndarray:
    activate_lane(loaded)
    gen = torch.Generator().manual_seed(3)
    out = loaded.pipe(
        PROMPT, num_inference_steps=2, height=32, width=32, generator=gen, output_type="np"
    )
    return out.images


def test_teacher_floats_are_bit_identical_after_the_student_ran(files):
    reference = float_image(load_pipeline(teacher(files)))
    loader = PipelineLoader()
    t_model = loader(teacher(files))
    s_model = loader(student(files, "lora"))
    first_student = float_image(s_model)
    assert np.array_equal(float_image(t_model), reference)
    assert not np.array_equal(first_student, reference)
    assert np.array_equal(float_image(s_model), first_student)
    assert np.array_equal(float_image(t_model), reference)


def test_full_unet_student_shares_everything_but_the_unet(files):
    without_any_adapter = run_alone(Runner(ModelCache(capacity=1)), teacher(files))
    runner = shared_runner()
    ref = student(files, "unet", AdapterKind.unet)
    t_image, s_image = compare(runner, teacher(files), ref)
    t_model, _ = runner.models.get(teacher(files))
    s_model, _ = runner.models.get(ref)
    for name in ("text_encoder", "tokenizer", "vae"):
        assert getattr(s_model.pipe, name) is getattr(t_model.pipe, name), name
    assert s_model.pipe.unet is not t_model.pipe.unet
    saved = load_pipeline(teacher(files)).pipe.unet.state_dict()
    swapped = s_model.pipe.unet.state_dict()
    assert any(not torch.equal(saved[k], swapped[k]) for k in saved)
    np.testing.assert_array_equal(t_image, without_any_adapter)
    assert not np.array_equal(s_image, t_image)


def test_two_lora_students_on_one_base_each_get_their_own(files):
    loader = PipelineLoader()
    one = loader(student(files, "lora"))
    alone = float_image(one)
    two = loader(student(files, "lora2"))
    assert len(lora_adapters(one.pipe)) == 2
    other = float_image(two)
    assert not np.array_equal(other, alone)
    assert np.array_equal(float_image(one), alone)


def test_a_dropped_students_lora_is_deleted_when_the_next_one_loads(files):
    loader = PipelineLoader()
    base = loader(teacher(files))
    one = loader(student(files, "lora"))
    name = one.lora_adapter
    del one
    gc.collect()
    two = loader(student(files, "lora2"))
    assert lora_adapters(base.pipe) == {two.lora_adapter} and name not in lora_adapters(base.pipe)


def test_a_base_still_alive_is_not_loaded_twice(files):
    calls = []

    def counting(ref, **kw):
        calls.append(ref)
        return load_pipeline(ref, **kw)

    loader = PipelineLoader(counting)
    s_model = loader(student(files, "lora"))
    t_model = loader(teacher(files))
    assert len(calls) == 1 and s_model.pipe.unet is t_model.pipe.unet


def test_pickle_unet_is_refused_unless_allowed_for_that_file(files):
    ref = student(files, "pickle_unet", AdapterKind.unet)
    with pytest.raises(ModelLoadError, match=r'pickle.*"allow_pickle": true'):
        PipelineLoader()(ref)
    allowed = AdapterRef(**{**_fields(ref.adapter), "allow_pickle": True})
    loaded = PipelineLoader()(StudentRef(**{**_fields(ref), "adapter": allowed}))
    assert loaded.pipe.unet is not None


def _fields(value) -> dict:
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


@pytest.mark.parametrize(
    "key,kind,sampling,message",
    [
        ("sd3_lora", AdapterKind.lora, {}, "holds no weights|does not fit"),
        ("lora", AdapterKind.unet, {}, "does not fit"),
        (
            "lora",
            AdapterKind.lora,
            {"pipeline": "FluxPipeline"},
            "loads as a StableDiffusionPipeline",
        ),
        ("lora", AdapterKind.lora, {"call_kwargs": (("max_sequence_length", 8),)}, "does not take"),
        (
            "lora",
            AdapterKind.lora,
            {"scheduler": "LCMScheduler", "scheduler_overrides": (("no_such_key", 1),)},
            "has no setting for",
        ),
    ],
)
def test_students_that_cannot_work_are_refused_in_one_sentence(files, key, kind, sampling, message):
    with pytest.raises(ModelLoadError, match=message) as caught:
        PipelineLoader()(student(files, key, kind, **sampling))
    assert "\n" not in str(caught.value)


def test_hub_adapter_not_in_the_cache_says_to_download_it_once(files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    ref = student(files, "lora")
    hub = AdapterRef(kind=AdapterKind.lora, location="someone/some-lora", file="w.safetensors")
    with pytest.raises(ModelLoadError, match=r"not in the local cache.*download it once"):
        PipelineLoader()(StudentRef(**{**_fields(ref), "adapter": hub}))


def test_trained_timesteps_go_to_the_pipe_only_at_their_step_count(files):
    ref = student(files, "lora", timesteps=(999, 499), call_kwargs=(("eta", 0.0),))
    loaded = PipelineLoader()(
        StudentRef(**{**_fields(ref), "sampling": StudentSampling(timesteps=(999, 499))})
    )
    from diffusers import DDIMScheduler, LCMScheduler

    loaded.pipe.scheduler = LCMScheduler.from_config(loaded.pipe.scheduler.config)
    assert student_call_kwargs(loaded.pipe, loaded, 2) == {"timesteps": [999, 499]}
    assert student_call_kwargs(loaded.pipe, loaded, 3) == {}
    loaded.pipe.scheduler = DDIMScheduler.from_config(loaded.pipe.scheduler.config)
    assert student_call_kwargs(loaded.pipe, loaded, 2) == {}


def test_students_add_only_their_own_weights_to_memory(files):
    loader = PipelineLoader()
    t_model = loader(teacher(files))
    alone = footprint([t_model.pipe]).ram
    s_unet = loader(student(files, "unet", AdapterKind.unet))
    with_unet = footprint([t_model.pipe, s_unet.pipe]).ram
    unet_bytes = sum(p.numel() * p.element_size() for p in s_unet.pipe.unet.parameters())
    assert with_unet - alone == unet_bytes
    s_lora = loader(student(files, "lora"))
    with_lora = footprint([t_model.pipe, s_unet.pipe, s_lora.pipe]).ram
    assert 0 < with_lora - with_unet < files["lora"].stat().st_size
