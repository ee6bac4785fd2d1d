"""Device placement and CPU offload: used on a CUDA GPU, refused with a notice elsewhere."""

from __future__ import annotations

import pytest
import torch

from studio.core.engine_options import Offload
from studio.core.events import ModelLoaded
from studio.core.models import ModelRef, ModelSource
from studio.engine.loading import ModelLoadError, load_pipeline
from studio.engine.model_cache import ModelCache
from studio.engine.placement import Placement, place, plan_placement

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


class FakePipe:
    """Records how it was placed, as a diffusers pipeline would be asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, torch.device]] = []

    def to(self, device):
        self.calls.append(("to", device))
        return self

    def enable_model_cpu_offload(self, device=None):
        self.calls.append(("model", device))

    def enable_sequential_cpu_offload(self, device=None):
        self.calls.append(("sequential", device))


def with_accelerate() -> bool:
    return True


@pytest.mark.parametrize("mode", [Offload.model, Offload.sequential])
def test_offload_on_a_cuda_gpu_hands_the_pipe_to_diffusers(mode):
    placement = plan_placement(CUDA, mode, "sd", has_accelerate=with_accelerate)
    assert placement == Placement(CUDA, mode)
    pipe = FakePipe()
    place(pipe, placement)
    assert pipe.calls == [(mode.value, CUDA)]


def test_no_offload_moves_the_pipe_whole():
    pipe = FakePipe()
    place(pipe, plan_placement(CUDA, "none", "sd"))
    assert pipe.calls == [("to", CUDA)]


@pytest.mark.parametrize(
    ("device", "family", "accelerate", "says"),
    [
        (CPU, "sd", True, "needs a CUDA GPU"),
        (torch.device("mps"), "sdxl", True, "shares the CPU's memory"),
        (CUDA, "emoji", True, "embedded models"),
        (CUDA, "sdxl", False, "pip install accelerate"),
    ],
)
def test_offload_that_cannot_help_is_ignored_with_a_notice(device, family, accelerate, says):
    placement = plan_placement(device, "model", family, has_accelerate=lambda: accelerate)
    assert placement.offload is Offload.none and says in placement.notice
    assert placement.notice.startswith("CPU offload (model)") and placement.notice.endswith(".")
    pipe = FakePipe()
    place(pipe, placement)
    assert pipe.calls == [("to", device)]


def test_unknown_offload_mode_is_refused():
    with pytest.raises(ValueError, match="use none, model, sequential"):
        plan_placement(CUDA, "disk")


def folder_ref(folder) -> ModelRef:
    return ModelRef(location=str(folder), source=ModelSource.folder)


def test_offload_on_this_cpu_loads_whole_and_says_why(tiny_sd_folder):
    loaded = load_pipeline(folder_ref(tiny_sd_folder), device="cpu", offload="sequential")
    assert loaded.offload is Offload.none and "needs a CUDA GPU" in loaded.notice
    assert loaded.device == CPU and loaded.pipe.unet.device == CPU


def test_unknown_offload_mode_is_a_load_error(tiny_sd_folder):
    with pytest.raises(ModelLoadError, match="not a CPU offload mode"):
        load_pipeline(folder_ref(tiny_sd_folder), offload="disk")


def test_the_runner_tells_the_notice_with_the_load(tiny_sd_folder):
    from studio.core.jobs import GenerateJob, LaneSpec
    from studio.core.params import GenerationParams
    from studio.engine.cancel import CancelToken
    from studio.engine.runner import Runner

    events = []

    class Sink:
        def emit(self, event):
            events.append(event)

        def offer_preview(self, lane, make):
            return False

    params = GenerationParams(
        prompt="a cube", sampler="Euler", num_inference_steps=1, width=32, height=32
    )
    job = GenerateJob(lane=LaneSpec(model=folder_ref(tiny_sd_folder), params=params))
    Runner(ModelCache(device="cpu", offload="model")).run(job, CancelToken(), Sink())
    (loaded,) = [e for e in events if isinstance(e, ModelLoaded)]
    assert "CPU offload (model) needs a CUDA GPU" in loaded.notice
