"""Cancel at every phase of a job on a tiny Stable Diffusion pipeline, through the real host,
session and gallery: the worker stops within one step plus 2 s, nothing partial is saved, and
the next job's image equals a fresh process's (benchmarks/stress/cancel_matrix.py sweeps seeds)."""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

import pytest

from studio.core.jobs import CompareJob, GenerateJob, Job, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.engine.loading import load_pipeline
from studio.viewmodels.session import SessionViewModel
from studio.worker.host import EngineHost
from tests.engine.tiny import save_tiny_sd_pipeline
from tests.worker.cancel_bench import CancelBench, Case, GatedStore, make_case, standard_points
from tests.worker.phase_gate import GatedRunnerFactory, Phase, PhaseGate, Point
from tests.worker.reference_images import references

STEPS = 5
STUDENT_STEPS = 2
POINTS = standard_points(STEPS)
# A comparison runs its lanes one after the other: a cancel between them, or in the second.
COMPARE_POINTS = [
    Point(phase=Phase.finishing, lane=0),
    Point(phase=Phase.encoding, lane=1),
    Point(phase=Phase.step, step=STUDENT_STEPS, lane=1),
]


def tiny_job(folder: Path, seed: int, compare: bool = False) -> Job:
    params = GenerationParams(
        prompt="a red cube",
        sampler="Euler",
        num_inference_steps=STEPS,
        guidance_scale=2.0,
        seed=seed,
        width=64,
        height=64,
    )
    lane = LaneSpec(model=ModelRef(location=str(folder), source=ModelSource.folder), params=params)
    previews = PreviewOptions(every=1)
    if compare:
        student = LaneSpec(model=lane.model, params=params.with_(num_inference_steps=STUDENT_STEPS))
        return CompareJob(teacher=lane, student=student, previews=previews)
    return GenerateJob(lane=lane, previews=previews)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    folder = save_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")
    seeds = iter(random.Random(7).sample(range(1, 2**32 - 1), 4 * len(POINTS + COMPARE_POINTS)))
    single = {p.label: make_case(p, lambda seed: tiny_job(folder, seed), seeds) for p in POINTS}
    compare = {
        f"compare {p.label}": make_case(p, lambda seed: tiny_job(folder, seed, True), seeds)
        for p in COMPARE_POINTS
    }
    return single | compare


@pytest.fixture(scope="module")
def reference_images(cases: dict[str, Case]):
    jobs = list(itertools.chain.from_iterable(c.reference_jobs() for c in cases.values()))
    return references(jobs)


async def run_case(case: Case, refs, gallery: Path):
    gate = PhaseGate()
    factory = GatedRunnerFactory(gate, load_pipeline)
    host = EngineHost(runner_factory=factory)
    store = GatedStore(gallery)
    session = SessionViewModel(host, store)
    bench = CancelBench(
        host=host,
        gate=gate,
        session=session,
        store=store,
        clear_models=factory.clear_models,
        references=refs,
    )
    async with bench:
        result = await bench.run(case)
    return result, bench.stream_problems(), session


LABELS = [p.label for p in POINTS] + [f"compare {p.label}" for p in COMPARE_POINTS]


@pytest.mark.parametrize("label", LABELS)
def test_cancel_at_each_phase(qapp, cases, reference_images, tmp_path, label):
    case = cases[label]
    result, stream, session = asyncio.run(run_case(case, reference_images, tmp_path / "gallery"))
    assert result.problems == []
    assert stream == []
    assert result.final == case.expected_final.__name__
    assert result.latency_s <= result.bound_s
    assert not session.busy and session.queue.count == 0
