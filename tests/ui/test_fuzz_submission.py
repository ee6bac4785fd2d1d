"""Fuzzing the way to the queue: sizes, steps, seeds, prompts and recipes at and past every limit,
typed into the session or restored from a PNG's parameters. Generate either refuses with one
message and sends nothing, or sends jobs whose every lane is valid and can be saved as a PNG.
"""

from __future__ import annotations

import math
import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from studio.core.commands import Submit
from studio.core.gallery import GalleryStore
from studio.core.jobs import job_problems
from studio.core.metadata import MetadataError, format_parameters, parse_parameters
from studio.core.params import (
    MAX_BATCH,
    MAX_GUIDANCE,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MIN_SIZE,
    GenerationParams,
    problems,
)
from studio.core.pngio import _png_info
from studio.core.samplers import SAMPLER_NAMES, find_sampler
from studio.core.settings import LaneRecipe, SeedMode
from studio.viewmodels.session import SessionViewModel
from tests.fuzzing import fuzz_settings, within
from tests.viewmodels.fake_engine import FakeEngine

EDGES = [0, 1, 7, 8, 9, 2047, 2048, 2049, 2056, -1, -8, 2**31, 2**32 - 1, 2**32, 2**63, 10**18]
INTS = st.sampled_from(EDGES) | st.integers(-(2**40), 2**40)
# What a spin box can hold (a C int): the window's size, step and batch fields can give no more.
C_INTS = INTS.filter(lambda value: -(2**31) <= value < 2**31)
NUMBERS = (
    st.sampled_from([0.0, -0.0, 1.0, 100.0, 100.0001, -1e-9, 1e308, math.nan, math.inf, -math.inf])
    | st.floats()
)
PROMPTS = st.sampled_from(
    ["", "cat", "x" * MAX_PROMPT_CHARS, "x" * (MAX_PROMPT_CHARS + 1), "a\x00b", "\ud800", "é" * 77]
) | st.text(max_size=50)
SAMPLERS = st.sampled_from(SAMPLER_NAMES) | st.sampled_from(["", "Euler Z", "ddim", "DPM++ 2M "])


def valid_by_limits(p: GenerationParams) -> bool:
    """The limits written out independently of `problems()`."""

    def text_ok(text: str) -> bool:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return len(text) <= MAX_PROMPT_CHARS and "\x00" not in text

    def side_ok(side: int) -> bool:
        return MIN_SIZE <= side <= MAX_SIZE and side % 8 == 0

    return (
        text_ok(p.prompt)
        and text_ok(p.negative_prompt)
        and find_sampler(p.sampler) is not None
        and 1 <= p.num_inference_steps <= MAX_STEPS
        and math.isfinite(p.guidance_scale)
        and 0 <= p.guidance_scale <= MAX_GUIDANCE
        and math.isfinite(p.eta)
        and 0 <= p.eta <= 1
        and 0 <= p.seed <= MAX_SEED
        and side_ok(p.width)
        and side_ok(p.height)
        and 1 <= p.batch_size <= MAX_BATCH
    )


def saveable(p: GenerationParams) -> None:
    """What the gallery does with a finished lane: the PNG text, its chunk, read back."""
    text = format_parameters(p, model="m", extra={"Lane": "teacher"})
    _png_info(text)
    assert parse_parameters(text).warnings == ()


@fuzz_settings()
@given(
    params=st.builds(
        GenerationParams,
        prompt=PROMPTS,
        negative_prompt=PROMPTS,
        sampler=SAMPLERS,
        num_inference_steps=INTS,
        guidance_scale=NUMBERS,
        eta=NUMBERS,
        seed=INTS,
        width=INTS,
        height=INTS,
        batch_size=INTS,
    )
)
@example(params=GenerationParams(prompt="\ud800"))
def test_problems_match_the_limits_and_valid_params_can_be_saved(params: GenerationParams):
    found = problems(params)
    assert (found == []) == valid_by_limits(params)
    for sentence in found:
        assert sentence.endswith(".") and len(sentence) <= 500
    if not found:
        saveable(params)


def make_session() -> tuple[SessionViewModel, FakeEngine]:
    engine = FakeEngine()
    store = GalleryStore(Path(tempfile.gettempdir()) / "studio-fuzz-never-written")
    return SessionViewModel(engine, store, rng=random.Random(1)), engine


def sent_jobs(engine: FakeEngine) -> list[Any]:
    return [c.job for c in engine.sent if isinstance(c, Submit)]


def check_generate(session: Any, engine: FakeEngine) -> None:
    before = len(sent_jobs(engine))
    with within():
        sent = session.generate()
    jobs = sent_jobs(engine)[before:]
    if not sent:
        assert jobs == [] and session.last_error
        return
    assert [j.job_id for j in jobs] == sent
    for job in jobs:
        assert job_problems(job) == []
        for _, spec in job.lanes:
            assert valid_by_limits(spec.params)
            saveable(spec.params)


@fuzz_settings(0.5)
@given(
    prompt=PROMPTS,
    seed=INTS,
    width=C_INTS,
    height=C_INTS,
    batch=C_INTS,
    mode=st.sampled_from(SeedMode),
    recipe=st.builds(
        LaneRecipe,
        sampler=SAMPLERS,
        num_inference_steps=C_INTS,
        guidance_scale=NUMBERS,
        eta=NUMBERS,
    ),
)
def test_typed_values_are_refused_or_queued_valid(
    qapp, prompt, seed, width, height, batch, mode, recipe
):
    session, engine = make_session()
    session.prompt, session.seed, session.seed_mode = prompt, seed, mode
    session.width, session.height, session.batch_count = width, height, batch
    session.teacher.set_recipe(recipe)
    check_generate(session, engine)


SETTINGS_LINE = st.lists(
    st.sampled_from(
        [
            "Steps: 0",
            "Steps: 1001",
            "Steps: 999999999999999999",
            "Seed: -1",
            "Seed: 4294967296",
            "Seed: 999999999999999999",
            "Size: 0x0",
            "Size: 2056x8",
            "Size: 999999999999999999x1",
            "CFG scale: 1e308",
            "CFG scale: -1",
            "Eta: 2",
            "Batch size: 17",
            "Sampler: Euler",
            "Sampler: nonsense",
            "Skip-Tuning: 9/9",
            "Timestep spacing: sideways",
        ]
    ),
    min_size=3,
    max_size=8,
).map(", ".join)


@fuzz_settings(0.5)
@given(prompt=PROMPTS.filter(lambda t: "\x00" not in t), line=SETTINGS_LINE)
@example(prompt="p", line="Steps: 999999999999999999, Seed: 1, Size: 999999999999999999x8")
def test_restored_png_parameters_are_refused_or_queued_valid(qapp, prompt: str, line: str):
    try:
        parsed = parse_parameters(f"{prompt}\n{line}")
    except MetadataError:
        return
    session, engine = make_session()
    with within():
        session.apply_parameters(parsed)
    check_generate(session, engine)
