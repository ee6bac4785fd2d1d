"""Validation of generation parameters and jobs: every problem has one clear sentence."""

from __future__ import annotations

import math
import re

import pytest

from studio.core.jobs import (
    CompareJob,
    GenerateJob,
    LaneSpec,
    PreviewOptions,
    job_problems,
    validate_job,
)
from studio.core.models import ModelRef
from studio.core.params import (
    MAX_PROMPT_CHARS,
    GenerationParams,
    ScheduleOptions,
    ValidationError,
    problems,
    validate,
)

VALID = GenerationParams(prompt="a red fox")
TEACHER = ModelRef.embedded("emoji-teacher")
STUDENT = ModelRef.embedded("emoji-student-4step")


def one_problem(**changes: object) -> str:
    found = problems(VALID.with_(**changes))
    assert len(found) == 1, found
    return found[0]


def assert_one_sentence(message: str) -> None:
    assert message[0].isupper() and message.endswith("."), message
    assert not re.search(r"[.!?]\s", message[:-1]), message


def test_defaults_are_valid() -> None:
    assert problems(GenerationParams()) == []
    assert validate(VALID) is VALID


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"width": 513}, "not a multiple of 8: try 512"),
        ({"height": 100}, "not a multiple of 8: try 96"),
        ({"width": 4}, "width 4 is out of range"),
        ({"height": 4096}, "height 4096 is out of range"),
        ({"width": 512.0}, "width must be a whole number"),
        ({"num_inference_steps": 0}, "number of steps 0 is out of range"),
        ({"num_inference_steps": 1001}, "number of steps 1001 is out of range"),
        ({"num_inference_steps": 20.0}, "number of steps must be a whole number"),
        ({"guidance_scale": -1.0}, "guidance scale -1.0 is negative"),
        ({"guidance_scale": math.nan}, "guidance scale nan is out of range"),
        ({"guidance_scale": math.inf}, "guidance scale inf is out of range"),
        ({"guidance_scale": 101.0}, "guidance scale 101.0 is out of range"),
        ({"guidance_scale": "5"}, "guidance scale must be a number"),
        ({"eta": 1.5}, "eta 1.5 is out of range"),
        ({"eta": -0.1}, "eta -0.1 is out of range"),
        ({"seed": -1}, "seed -1 is out of range"),
        ({"seed": 2**32}, "seed 4294967296 is out of range"),
        ({"seed": 10**400}, "is out of range"),
        ({"batch_size": 0}, "batch size 0 is out of range"),
        ({"batch_size": 17}, "batch size 17 is out of range"),
        ({"sampler": "Nonsense 9000"}, "Unknown sampler 'Nonsense 9000'"),
        ({"sampler": None}, "Unknown sampler None"),
        ({"prompt": 42}, "prompt must be text, not int"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, f"keep it to at most {MAX_PROMPT_CHARS}"),
        ({"negative_prompt": "bad\x00"}, "negative prompt contains a NUL character"),
        ({"schedule": "karras"}, "schedule options must be a ScheduleOptions value"),
    ],
)
def test_each_bad_value_has_one_sentence(changes: dict[str, object], fragment: str) -> None:
    message = one_problem(**changes)
    assert fragment in message
    assert_one_sentence(message)


@pytest.mark.parametrize(
    "field",
    ["num_inference_steps", "seed", "width", "height", "batch_size", "guidance_scale", "eta"],
)
def test_bools_are_not_numbers(field: str) -> None:
    message = one_problem(**{field: True})
    assert "must be" in message and "True" in message


def test_limits_themselves_are_valid() -> None:
    edge = VALID.with_(
        num_inference_steps=1000, seed=2**32 - 1, width=2048, height=8, guidance_scale=100.0
    )
    assert problems(edge) == []
    assert problems(VALID.with_(num_inference_steps=1, seed=0, eta=1.0, batch_size=16)) == []


def test_sampler_names_are_case_insensitive() -> None:
    assert problems(VALID.with_(sampler="euler A")) == []


def test_validate_lists_every_problem() -> None:
    bad = VALID.with_(width=7, num_inference_steps=0, seed=-5)
    with pytest.raises(ValidationError) as caught:
        validate(bad)
    assert len(caught.value.problems) == 3
    assert str(caught.value) == " ".join(caught.value.problems)
    assert isinstance(caught.value, ValueError)


def test_schedule_default_detection() -> None:
    assert ScheduleOptions().is_default()
    assert not ScheduleOptions(rescale_zero_snr=True).is_default()


def compare(teacher: GenerationParams, student: GenerationParams, **kw: object) -> CompareJob:
    return CompareJob(
        teacher=LaneSpec(model=TEACHER, params=teacher),
        student=LaneSpec(model=STUDENT, params=student),
        **kw,  # type: ignore[arg-type]
    )


def test_valid_jobs_pass() -> None:
    generate = GenerateJob(lane=LaneSpec(model=TEACHER, params=VALID))
    assert validate_job(generate) is generate
    job = compare(VALID, VALID.with_(sampler="LCM", num_inference_steps=4))
    assert job_problems(job) == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("seed", 7, "Both lanes must share the seed (0 vs 7)."),
        ("width", 256, "Both lanes must share the width (512 vs 256)."),
        ("height", 256, "Both lanes must share the height (512 vs 256)."),
        ("batch_size", 2, "Both lanes must share the batch size (1 vs 2)."),
    ],
)
def test_compare_lanes_must_share(field: str, value: int, expected: str) -> None:
    job = compare(VALID, VALID.with_(**{field: value}))
    assert job_problems(job) == [expected]
    with pytest.raises(ValidationError):
        validate_job(job)


def test_compare_problems_name_their_lane() -> None:
    job = compare(VALID.with_(num_inference_steps=0), VALID.with_(num_inference_steps=0))
    found = job_problems(job)
    assert [p.split(":")[0] for p in found] == ["Teacher", "Student"]


def test_generate_problems_have_no_lane_prefix() -> None:
    job = GenerateJob(lane=LaneSpec(model=TEACHER, params=VALID.with_(seed=-1)))
    assert job_problems(job) == [one_problem(seed=-1)]


@pytest.mark.parametrize("every", [-1, 1.5])
def test_preview_interval(every: int) -> None:
    job = GenerateJob(
        lane=LaneSpec(model=TEACHER, params=VALID), previews=PreviewOptions(every=every)
    )
    found = job_problems(job)
    assert found == ["Preview interval must be 0 (off) or a positive number of steps."]
    assert_one_sentence(found[0])


def test_previews_can_be_off() -> None:
    options = PreviewOptions(every=0)
    assert not options.enabled
    assert (
        job_problems(GenerateJob(lane=LaneSpec(model=TEACHER, params=VALID), previews=options))
        == []
    )
