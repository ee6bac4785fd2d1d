"""Whatever a client posts as a job, the ingress answers a Submit it will run or a 4xx of one
sentence (never another exception), and hands the engine only models it serves."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.cluster import ingress
from studio.cluster.served_models import ServedModels
from studio.core.commands import Submit
from studio.core.jobs import GenerateJob, LaneSpec
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.wire import to_json_dict
from tests.fuzzing import HOSTILE_TEXTS, fuzz_settings, json_values, mutate_dict, nested, within

MODELS = ServedModels(None, embedded=frozenset({"emoji-teacher"}))
VALID = to_json_dict(
    Submit(
        job=GenerateJob(
            lane=LaneSpec(
                model=ModelRef.embedded("emoji-teacher"),
                params=GenerationParams(width=32, height=32),
            )
        )
    )
)


def answer(body: bytes) -> Submit | None:
    with within():
        try:
            submit = ingress.submitted_job(body, MODELS)
        except ingress.Refused as exc:
            assert 400 <= exc.status < 500
            assert (
                exc.message.strip() and "\n" not in exc.message and "Traceback" not in exc.message
            )
            return None
    assert isinstance(submit, Submit)
    for _, spec in submit.job.lanes:
        assert spec.model.location == "emoji-teacher" and not spec.model.allow_pickle
    return submit


def test_the_valid_job_is_admitted() -> None:
    assert answer(json.dumps(VALID).encode()) is not None


@fuzz_settings()
@given(st.binary(max_size=2048))
def test_random_bytes(body: bytes) -> None:
    answer(body)


@fuzz_settings()
@given(json_values())
def test_any_json_value(value) -> None:
    answer(json.dumps(value).encode())


@fuzz_settings()
@given(mutate_dict(VALID))
def test_mutated_jobs(document) -> None:
    answer(json.dumps(document, default=str).encode())


@pytest.mark.parametrize("text", HOSTILE_TEXTS[:8])
def test_hostile_texts(text) -> None:
    answer(text if isinstance(text, bytes) else str(text).encode("utf-8", "surrogatepass"))


def test_deep_nesting() -> None:
    answer(json.dumps(nested(50)).encode())
    answer(b"[" * 100_000 + b"]" * 100_000)
