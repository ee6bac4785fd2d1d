"""The preview decoder choice: a plain enum on PreviewOptions, validated, and on the wire."""

from __future__ import annotations

from studio.core.commands import Submit
from studio.core.jobs import (
    GenerateJob,
    LaneSpec,
    PreviewDecoder,
    PreviewOptions,
    job_problems,
    preview_problems,
)
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.wire import from_json_dict, to_json_dict


def job(previews: PreviewOptions) -> GenerateJob:
    params = GenerationParams(prompt="a cube", sampler="Euler", num_inference_steps=2)
    return GenerateJob(
        lane=LaneSpec(model=ModelRef.embedded("emoji-teacher"), params=params), previews=previews
    )


def test_the_default_is_the_linear_map_and_no_download():
    options = PreviewOptions()
    assert options.decoder is PreviewDecoder.linear
    assert options.tiny_vae_dir == "" and options.download_tiny is False
    assert [d.value for d in PreviewDecoder] == ["linear", "tiny", "full"]


def test_every_choice_is_valid_and_anything_else_is_one_sentence():
    for choice in PreviewDecoder:
        assert job_problems(job(PreviewOptions(decoder=choice))) == []
    found = preview_problems(PreviewOptions(decoder="taesd"))  # type: ignore[arg-type]
    assert found == ["Preview decoder 'taesd' is not one of linear, tiny, full."]
    assert preview_problems(PreviewOptions(tiny_vae_dir="a\x00b"))
    assert preview_problems(PreviewOptions(download_tiny="yes"))  # type: ignore[arg-type]


def test_the_choice_crosses_the_wire():
    previews = PreviewOptions(
        decoder=PreviewDecoder.tiny, tiny_vae_dir="/tmp/taesd", download_tiny=True
    )
    sent = Submit(job=job(previews))
    back = from_json_dict(to_json_dict(sent))
    assert isinstance(back, Submit)
    assert back.job.previews == previews
    assert back.job.previews.decoder is PreviewDecoder.tiny
