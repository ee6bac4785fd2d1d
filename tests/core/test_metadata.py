"""A1111-style parameters text: writing, reading ours and theirs, and surviving hostile input."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.metadata import (
    MAX_PARAMETERS_CHARS,
    SETTING_KEYS,
    MetadataError,
    ParsedParameters,
    format_parameters,
    parse_parameters,
    to_json_dict,
)
from studio.core.params import GenerationParams, ScheduleOptions, Sigmas, Spacing
from studio.core.samplers import SAMPLER_NAMES, find_sampler

A1111_TEXT = """masterpiece, best quality, 1girl, (blue hair:1.2), looking at viewer
<lora:add_detail:0.5>, cinematic lighting
Negative prompt: lowres, bad anatomy, (worst quality:1.4)
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, \
Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Denoising strength: 0.4, \
Clip skip: 2, ADetailer model: face_yolov8n.pt, ADetailer prompt: "smile, detailed eyes", \
ADetailer confidence: 0.3, ADetailer dilate erode: 4, ADetailer version: 24.1.0, \
Hires upscale: 1.5, Hires steps: 15, Hires upscaler: 4x-UltraSharp, \
Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.9.4"""


def canonical(params: GenerationParams) -> GenerationParams:
    """What parsing returns for `params`: DPM++ 2M + Karras sigmas reads as DPM++ 2M Karras."""
    combined = find_sampler(f"{params.sampler} Karras")
    if params.schedule.sigmas == Sigmas.karras and combined is not None:
        return params.with_(
            sampler=combined.name,
            schedule=ScheduleOptions(
                spacing=params.schedule.spacing, rescale_zero_snr=params.schedule.rescale_zero_snr
            ),
        )
    return params


def round_trip(params: GenerationParams, **kw: object) -> ParsedParameters:
    parsed = parse_parameters(format_parameters(params, **kw))  # type: ignore[arg-type]
    assert parsed.params == canonical(params)
    return parsed


def test_layout_matches_a1111() -> None:
    params = GenerationParams(
        prompt="a fox",
        negative_prompt="blurry",
        seed=42,
        eta=0.3,
        batch_size=2,
        schedule=ScheduleOptions(sigmas=Sigmas.karras),
    )
    text = format_parameters(params, model="emoji-teacher", extra={"Studio lane": "student"})
    assert text == (
        "a fox\nNegative prompt: blurry\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.0, Seed: 42, "
        "Size: 512x512, Model: emoji-teacher, Eta: 0.3, Batch size: 2, Studio lane: student"
    )


def test_defaults_write_a_short_line_without_negative() -> None:
    text = format_parameters(GenerationParams(prompt="cat"))
    assert text == "cat\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 5.0, Seed: 0, Size: 512x512"


def test_our_own_keys() -> None:
    schedule = ScheduleOptions(spacing=Spacing.trailing, rescale_zero_snr=True)
    params = GenerationParams(sampler="DDIM", schedule=schedule)
    text = format_parameters(params)
    assert text.endswith("Eta: 0.0, Timestep spacing: trailing, Zero terminal SNR: True")
    round_trip(params)


@pytest.mark.parametrize(
    "params",
    [
        GenerationParams(),
        GenerationParams(prompt="über café, 東京: night\nline two", negative_prompt="a, b: c"),
        GenerationParams(prompt='say "hi", then: go', negative_prompt="x\n\ny"),
        GenerationParams(prompt="\n  leading and trailing  \n", negative_prompt=" spaced "),
        GenerationParams(prompt="🦊, 🌙: ✨", sampler="Euler a", seed=2**32 - 1),
        GenerationParams(sampler="DPM++ 2M Karras", schedule=ScheduleOptions(sigmas=Sigmas.beta)),
        GenerationParams(sampler="DPM++ 2M", schedule=ScheduleOptions(sigmas=Sigmas.karras)),
        GenerationParams(sampler="Euler", schedule=ScheduleOptions(sigmas=Sigmas.exponential)),
        GenerationParams(sampler="TCD", eta=0.3, num_inference_steps=4, guidance_scale=0.0),
        GenerationParams(sampler="Flow Euler", width=1024, height=768, batch_size=16),
        GenerationParams(guidance_scale=7.123456789, eta=1e-7),
    ],
)
def test_round_trip(params: GenerationParams) -> None:
    round_trip(params)


def test_karras_schedule_maps_to_karras_sampler() -> None:
    params = GenerationParams(sampler="DPM++ 2M", schedule=ScheduleOptions(sigmas=Sigmas.karras))
    parsed = round_trip(params)
    assert parsed.params.sampler == "DPM++ 2M Karras"
    assert parsed.params.schedule.sigmas == Sigmas.default


def test_model_and_extra_round_trip() -> None:
    extra = {"Studio lane": "student", "Odd value": 'a, "b": c\nd', "Empty": "", "Pad": " x "}
    parsed = round_trip(GenerationParams(), model="my model: v2, final", extra=extra)
    assert parsed.model == "my model: v2, final"
    assert parsed.extra == extra
    assert parsed.warnings == ()


@pytest.mark.parametrize("key", ["Steps", "seed", "Model", "bad:key", " padded", "", "a\nb"])
def test_bad_extra_keys_are_refused(key: str) -> None:
    with pytest.raises(MetadataError):
        format_parameters(GenerationParams(), extra={key: "1"})


def test_reads_a1111_text() -> None:
    parsed = parse_parameters(A1111_TEXT)
    p = parsed.params
    assert p.prompt.splitlines()[1] == "<lora:add_detail:0.5>, cinematic lighting"
    assert p.negative_prompt == "lowres, bad anatomy, (worst quality:1.4)"
    assert (p.sampler, p.schedule.sigmas) == ("DPM++ 2M Karras", Sigmas.default)
    assert (p.num_inference_steps, p.guidance_scale, p.seed) == (28, 7.0, 1234567890)
    assert (p.width, p.height) == (832, 1216)
    assert parsed.model == "sd_xl_base_1.0"
    assert parsed.extra["ADetailer prompt"] == "smile, detailed eyes"
    assert parsed.extra["Lora hashes"] == "add_detail: 7c6bad76eb54"
    assert parsed.extra["Hires upscaler"] == "4x-UltraSharp"
    assert parsed.extra["Model hash"] == "31e35c80fc"
    assert parsed.warnings == ()


def test_a1111_extras_survive_rewriting() -> None:
    parsed = parse_parameters(A1111_TEXT)
    again = parse_parameters(
        format_parameters(parsed.params, model=parsed.model, extra=parsed.extra)
    )
    assert again == parsed


@pytest.mark.parametrize(
    ("sampler", "schedule", "expected"),
    [
        ("Euler a", "", ("Euler a", Sigmas.default)),
        ("Euler a", "Automatic", ("Euler a", Sigmas.default)),
        ("DPM++ 2M SDE", "Karras", ("DPM++ 2M SDE Karras", Sigmas.default)),
        ("LMS", "karras", ("LMS Karras", Sigmas.default)),
        ("Euler", "Karras", ("Euler", Sigmas.karras)),
        ("DPM++ SDE", "Exponential", ("DPM++ SDE", Sigmas.exponential)),
        ("DPM++ SDE Karras", "", ("DPM++ SDE", Sigmas.karras)),
        ("DPM++ 2M Karras", "", ("DPM++ 2M Karras", Sigmas.default)),
        ("dpm++ 2m", "", ("DPM++ 2M", Sigmas.default)),
        ("PLMS", "", ("PNDM", Sigmas.default)),
    ],
)
def test_a1111_sampler_names(sampler: str, schedule: str, expected: tuple[str, Sigmas]) -> None:
    schedule_pair = f", Schedule type: {schedule}" if schedule else ""
    parsed = parse_parameters(f"p\nSteps: 20, Sampler: {sampler}{schedule_pair}, Seed: 1")
    assert (parsed.params.sampler, parsed.params.schedule.sigmas) == expected
    assert parsed.warnings == ()


def test_unknown_sampler_is_kept_with_a_warning() -> None:
    parsed = parse_parameters("p\nSteps: 20, Sampler: DPM++ 2M SDE Heun Karras, Seed: 1")
    assert parsed.params.sampler == "DPM++ 2M SDE Heun Karras"
    assert parsed.params.schedule.sigmas == Sigmas.default
    assert len(parsed.warnings) == 1 and "Unknown sampler" in parsed.warnings[0]


def test_unsupported_schedule_type_warns() -> None:
    parsed = parse_parameters(
        "p\nSteps: 20, Sampler: Euler, Schedule type: Align Your Steps, Seed: 1"
    )
    assert parsed.params.schedule.sigmas == Sigmas.default
    assert "Align Your Steps" in parsed.warnings[0]


def test_missing_keys_fall_back_to_defaults() -> None:
    parsed = parse_parameters("hello\nSteps: 8, Seed: 3, Clip skip: 2")
    assert parsed.params == GenerationParams(prompt="hello", num_inference_steps=8, seed=3)
    assert parsed.extra == {"Clip skip": "2"}


def test_text_without_settings_is_all_prompt() -> None:
    parsed = parse_parameters("just a prompt, with: one colon\nNegative prompt: ugly\n\n")
    assert parsed.params.prompt == "just a prompt, with: one colon"
    assert parsed.params.negative_prompt == "ugly"
    assert parsed.params.num_inference_steps == GenerationParams().num_inference_steps
    assert "No settings line" in parsed.warnings[0]


def test_windows_line_endings() -> None:
    text = format_parameters(GenerationParams(prompt="a\nb", negative_prompt="c")).replace(
        "\n", "\r\n"
    )
    assert parse_parameters(text).params == GenerationParams(prompt="a\nb", negative_prompt="c")


def test_to_json_dict_is_plain_json() -> None:
    data = to_json_dict(parse_parameters(A1111_TEXT))
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["schedule"] == {
        "sigmas": "default",
        "spacing": "default",
        "rescale_zero_snr": False,
    }
    expected_keys = {
        "prompt",
        "negative_prompt",
        "sampler",
        "num_inference_steps",
        "guidance_scale",
        "eta",
        "classifier_scale",
        "seed",
        "width",
        "height",
        "batch_size",
        "schedule",
        "skip_tuning",
        "model",
        "extra",
        "warnings",
        "source",
        "unmapped",
    }
    assert set(data) == expected_keys
    assert (data["source"], data["unmapped"]) == ("Studio/A1111", [])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n\n",
        "Steps: 1e999, Seed: 1e999, CFG scale: 1e999, Eta: nan",
        "Steps: 20, Seed: 99999999999999999999999999999999999, Size: 99999999999x1",
        "Steps: -5, Sampler: , Size: 0x0, Batch size: 0",
        "Steps: 20, Size: axb, Zero terminal SNR: maybe, Timestep spacing: sideways",
        'Steps: 20, Sampler: "unterminated, Seed: 1, CFG scale: "\\ud800"',
        ':::::,,,,"""\\\\ , : , :',
        "Steps: 20, " * 3000,
        "a: " + '"' * 20000,
        "Negative prompt:\nNegative prompt:\nSteps: 1, Seed: 2, Size: 8x8",
        "\u2028\u0085\x0b\x0c, Steps: 1, Seed: 2, Sampler: \u202e",
        "k: " + "9" * 5000 + ", Steps: " + "9" * 5000 + ", Seed: " + "1" * 19,
        " " * 60000 + "x: 1, y: 2, z: 3",
    ],
)
def test_hostile_text_parses_with_warnings(text: str) -> None:
    start = time.perf_counter()
    parsed = parse_parameters(text)
    assert time.perf_counter() - start < 1.0
    json.dumps(to_json_dict(parsed), allow_nan=False)
    assert all(isinstance(w, str) and len(w) < 400 for w in parsed.warnings)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x" * (MAX_PARAMETERS_CHARS + 1), "more than the"),
        ("a cat\x00\nSteps: 1, Seed: 1, Size: 8x8", "NUL"),
        (b"Steps: 1", "must be text"),
        (None, "must be text"),
    ],
)
def test_unreadable_text_raises_metadata_error(text: object, fragment: str) -> None:
    with pytest.raises(MetadataError, match=fragment) as caught:
        parse_parameters(text)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).count(". ") == 0


def test_hostile_numbers_fall_back_with_warnings() -> None:
    parsed = parse_parameters("p\nSteps: x, Sampler: Euler, Seed: 1e999, Size: 4000x1")
    assert parsed.params.seed == 0 and parsed.params.num_inference_steps == 20
    assert (parsed.params.width, parsed.params.height) == (4000, 1)
    text = " ".join(parsed.warnings)
    assert "Seed '1e999'" in text and "width 4000 is out of range" in text


def test_numbers_no_setting_can_hold_fall_back_to_the_defaults() -> None:
    text = "p\nSteps: 99999999999, Seed: 99999999999, Size: 99999999999x1, Batch size: -3000000000"
    parsed = parse_parameters(text)
    assert parsed.params.num_inference_steps == 20 and parsed.params.batch_size == 1
    assert (parsed.params.width, parsed.params.height) == (512, 512)
    assert parsed.params.seed == 99999999999, "a seed past the limit is kept, and refused later"
    assert " ".join(parsed.warnings).count("is far out of range") == 3


def test_duplicate_and_junk_pairs_warn() -> None:
    parsed = parse_parameters("p\nSteps: 1, Steps: 2, stray words, Seed: 3, Size: 8x8")
    assert parsed.params.num_inference_steps == 2
    assert len(parsed.warnings) == 2


_PROMPT_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00\r"),
    max_size=60,
).filter(lambda s: not any(line.startswith("Negative prompt:") for line in s.split("\n")))
_VALUE_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30
)
_EXTRA_KEY = st.from_regex(r"[A-Za-z][A-Za-z0-9 \-/]{0,15}[A-Za-z0-9]", fullmatch=True).filter(
    lambda key: key.casefold() not in {known.casefold() for known in SETTING_KEYS}
)
_FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)

_PARAMS = st.builds(
    GenerationParams,
    prompt=_PROMPT_TEXT,
    negative_prompt=_PROMPT_TEXT,
    sampler=st.sampled_from(SAMPLER_NAMES) | st.sampled_from(["Foo", "my, sampler", "Euler Q"]),
    num_inference_steps=st.integers(-(10**6), 10**6),
    guidance_scale=_FINITE,
    eta=_FINITE,
    seed=st.integers(-(2**40), 2**40),
    width=st.integers(0, 10**9),
    height=st.integers(0, 10**9),
    batch_size=st.integers(-10, 100),
    schedule=st.builds(
        ScheduleOptions,
        sigmas=st.sampled_from(Sigmas),
        spacing=st.sampled_from(Spacing),
        rescale_zero_snr=st.booleans(),
    ),
)


@settings(max_examples=200, deadline=None, database=None)
@given(
    params=_PARAMS, model=_VALUE_TEXT, extra=st.dictionaries(_EXTRA_KEY, _VALUE_TEXT, max_size=4)
)
def test_round_trip_property(params: GenerationParams, model: str, extra: dict[str, str]) -> None:
    parsed = round_trip(params, model=model, extra=extra)
    assert parsed.model == model
    assert parsed.extra == extra


_HOSTILE_PIECES = st.sampled_from(
    [
        "Steps",
        "Sampler",
        "Seed",
        "Size",
        "Schedule type",
        ":",
        ",",
        '"',
        "\\",
        "\n",
        " ",
        "x",
        "Negative prompt:",
        "1e999",
        "nan",
        "99999999999x1",
        "Karras",
        "\\ud800",
        "\u2028",
    ]
)


@settings(max_examples=200, deadline=None, database=None)
@given(text=st.lists(_HOSTILE_PIECES | st.text(max_size=4), max_size=30).map("".join))
def test_any_text_parses_or_raises_metadata_error(text: str) -> None:
    try:
        parsed = parse_parameters(text)
    except MetadataError:
        return
    json.dumps(to_json_dict(parsed), allow_nan=False)
    rewritten = format_parameters(parsed.params, model=parsed.model, extra=parsed.extra)
    assert parse_parameters(rewritten).extra == parsed.extra
