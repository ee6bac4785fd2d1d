"""The served engine's parts that need no Ray: the API values, the inbox, the model admission."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from studio.cluster.inbox import EventRouter, JobInbox
from studio.cluster.served_models import ServedModels
from studio.core.events import EngineStatus, JobFinished, PreviewReady, StepProgress
from studio.core.grid import Axis, AxisName, GridSpec
from studio.core.jobs import CompareJob, GenerateJob, GridJob, Lane, LaneSpec
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams
from studio.core.remote_api import EngineAddress, token_digest, token_matches


def preview(lane: Lane, step: int) -> PreviewReady:
    return PreviewReady(
        job_id="j", lane=lane, step=step, total=9, x_t=np.zeros((2, 2, 3), np.uint8)
    )


def test_engine_addresses_parse_or_say_what_is_wrong():
    assert EngineAddress.parse("gpu-box").url == "http://gpu-box:8000"
    assert EngineAddress.parse("https://h.example/studio/").url == "https://h.example:443/studio"
    assert EngineAddress.parse("http://[::1]:9000").is_loopback
    assert EngineAddress.parse("ray_head:8123").url == "http://ray_head:8123"
    assert EngineAddress.parse("10.0.0.7").url == "http://10.0.0.7:8000"
    for bad, words in [
        ("ftp://h", "http"),
        ("http://", "no host"),
        ("http://h:99999", "port"),
        ("http://h/?q=1", "query"),
        ("http://h:0", "port"),
        ("not a url", "invalid host"),
        ("http://gpu box:8000", "invalid host"),
        ("-gpu-:80", "invalid host"),
        ("http://h!x", "invalid host"),
    ]:
        with pytest.raises(ValueError, match=words):
            EngineAddress.parse(bad)


def test_the_token_is_compared_by_digest_and_only_as_a_bearer():
    digest = token_digest("s3cret-token-0123456789")
    assert token_matches("Bearer s3cret-token-0123456789", digest)
    assert token_matches("bearer  s3cret-token-0123456789 ", digest)
    for header in (None, "", "Bearer", "Basic s3cret-token-0123456789", "Bearer other"):
        assert not token_matches(header, digest)
    assert token_matches(None, "")
    assert "s3cret" not in digest


def test_an_inbox_keeps_order_and_only_the_newest_waiting_preview_of_a_lane():
    async def run() -> list:
        inbox = JobInbox()
        inbox.put(preview(Lane.teacher, 1))
        inbox.put(StepProgress(job_id="j", lane=Lane.teacher, step=1, total=9, elapsed_s=0.1))
        inbox.put(preview(Lane.student, 1))
        inbox.put(preview(Lane.teacher, 2))
        return [await inbox.get() for _ in range(len(inbox))]

    got = asyncio.run(run())
    assert [(type(e).__name__, getattr(e, "lane", None), getattr(e, "step", 0)) for e in got] == [
        ("StepProgress", Lane.teacher, 1),
        ("PreviewReady", Lane.student, 1),
        ("PreviewReady", Lane.teacher, 2),
    ]


def test_the_router_gives_each_job_its_own_events_and_everyone_the_status():
    async def run() -> tuple[list, list]:
        router = EventRouter()
        a, b = router.open("a"), router.open("b")
        with pytest.raises(ValueError, match="already running"):
            router.open("a")
        router.route(JobFinished(job_id="a"))
        router.route(EngineStatus(text="Loading…"))
        router.route(JobFinished(job_id="nobody"))
        router.close("b")
        router.route(JobFinished(job_id="b"))
        return [await a.get(), await a.get()], [await b.get()]

    to_a, to_b = asyncio.run(run())
    assert to_a == [JobFinished(job_id="a"), EngineStatus(text="Loading…")]
    assert to_b == [EngineStatus(text="Loading…")]


def lane(ref: ModelRef) -> LaneSpec:
    return LaneSpec(model=ref, params=GenerationParams(width=32, height=32))


def test_a_server_admits_its_own_models_and_refuses_the_rest(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "model_index.json").write_text("{}")
    (tmp_path / "w.safetensors").write_bytes(b"")
    served = ServedModels(tmp_path, embedded=frozenset({"emoji-teacher"}))
    assert served.names() == ["mine", "w.safetensors"]
    teacher = ModelRef.embedded("emoji-teacher")
    job = CompareJob(teacher=lane(teacher), student=lane(ModelRef.embedded("mine")))
    admitted = served.admit(job)
    assert admitted.teacher.model == teacher
    assert admitted.student.model.source is ModelSource.folder
    assert admitted.student.model.location == str(tmp_path / "mine")
    grid = GridJob(
        base=lane(teacher),
        grid=GridSpec(x=Axis(name=AxisName.model, values=(ModelRef.embedded("mine"),))),
    )
    assert served.admit(grid).grid.x.values[0].location == str(tmp_path / "mine")
    refusals = [
        (ModelRef(location="w.ckpt", source=ModelSource.file, allow_pickle=True), "pickle"),
        (ModelRef(location="/etc"), "not a model of this server"),
        (ModelRef(location="../outside"), "not a model of this server"),
        (ModelRef(location="gone"), "no such model"),
        (ModelRef.embedded("gone"), "no such model"),
        (ModelRef(location="org/model", source=ModelSource.hub), "--allow-hub"),
        (ModelRef(location="w.bin", source=ModelSource.file), "only .safetensors"),
    ]
    for ref, words in refusals:
        with pytest.raises(ValueError, match=words):
            served.admit(GenerateJob(lane=lane(ref)))
    bare = ServedModels(None, embedded=frozenset({"emoji-teacher"}))
    with pytest.raises(ValueError, match="only the embedded models"):
        bare.admit(GenerateJob(lane=lane(ModelRef(location="mine"))))


def test_a_grid_splits_into_one_cell_jobs_and_merges_back_in_place():
    from studio.cluster.fan_out import GridMerge, split_grid
    from studio.core.events import GridCellFinished, JobCancelled, JobFailed, JobProgress

    grid = GridJob(
        base=lane(ModelRef.embedded("emoji-teacher")),
        grid=GridSpec(
            x=Axis(name=AxisName.sampler, values=("DDIM", "Euler")),
            y=Axis(name=AxisName.steps, values=(4, 8)),
        ),
    )
    parts = split_grid(grid)
    assert [(p.cell.x, p.cell.y) for p in parts] == [(0, 1), (1, 1), (0, 0), (1, 0)], (
        "the 8-step cells go out first"
    )
    for part in parts:
        assert part.job.grid.size == 1 and part.job.job_id.startswith(grid.job_id + ".")
        assert part.job.cells()[0].params == part.cell.params
    merge = GridMerge(grid, parts)
    image = np.zeros((2, 2, 3), np.uint8)
    first, second, third, fourth = (p.job.job_id for p in parts)
    sub_cell = GridCellFinished(
        job_id=second, x=0, y=0, image=image, label="x", nfe=8,
        params=parts[1].cell.params, model=parts[1].cell.model,
    )  # fmt: skip
    placed, progress = merge.take(sub_cell)
    assert (placed.job_id, placed.x, placed.y, placed.label) == (
        grid.job_id,
        1,
        1,
        parts[1].cell.label,
    )
    assert isinstance(progress, JobProgress) and progress.done == 1
    assert merge.take(JobFinished(job_id=second)) == []
    failed, _ = merge.take(JobFailed(job_id=first, message="The replica stopped."))
    assert (failed.x, failed.y, failed.image, failed.error) == (0, 1, None, "The replica stopped.")
    assert merge.take(JobFailed(job_id="someone-else", message="no")) == []
    merge.take(JobCancelled(job_id=third, kept_partial=True))
    assert merge.take(JobCancelled(job_id=third)) == [], "a cell job ends once"
    *_, end = merge.take(JobCancelled(job_id=fourth))
    assert merge.finished and end == JobCancelled(job_id=grid.job_id, kept_partial=True)


def test_a_split_grid_keeps_its_preview_setting_and_each_preview_lands_on_its_cell():
    from studio.cluster.fan_out import GridMerge, split_grid
    from studio.core.jobs import PreviewOptions

    grid = GridJob(
        base=lane(ModelRef.embedded("emoji-teacher")),
        grid=GridSpec(
            x=Axis(name=AxisName.sampler, values=("DDIM", "Euler")),
            y=Axis(name=AxisName.steps, values=(4, 8)),
        ),
        previews=PreviewOptions(every=2),
    )
    parts = split_grid(grid)
    assert all(part.job.previews == grid.previews for part in parts)
    merge = GridMerge(grid, parts)
    last = parts[-1]
    sub = PreviewReady(
        job_id=last.job.job_id, lane=Lane.main, step=2, total=8,
        x_t=np.zeros((2, 2, 3), np.uint8), cell=(0, 0),
    )  # fmt: skip
    (placed,) = merge.take(sub)
    assert (placed.job_id, placed.cell, placed.step) == (grid.job_id, (last.cell.x, 0), 2)
    assert placed.cell == (1, 0), "the last part is a 4-step cell: the 8-step ones go first"
    assert merge.take(StepProgress(job_id=last.job.job_id, lane=Lane.main, step=1, total=8,
                                   elapsed_s=0.1)) == []  # fmt: skip


def test_an_inbox_keeps_the_newest_waiting_preview_of_each_grid_cell():
    async def run() -> list:
        inbox = JobInbox()
        for cell, step in (((0, 0), 1), ((1, 0), 1), ((0, 0), 2)):
            inbox.put(dataclasses.replace(preview(Lane.main, step), cell=cell))
        return [await inbox.get() for _ in range(len(inbox))]

    got = asyncio.run(run())
    assert [(e.cell, e.step) for e in got] == [((1, 0), 1), ((0, 0), 2)]


def test_a_convergence_run_deals_its_samplers_over_the_replicas_and_merges_back():
    from studio.cluster.fan_out import ConvergeMerge, split_convergence
    from studio.core.convergence import ConvergencePoint, ConvergenceSpec
    from studio.core.events import ConvergencePointReady, JobFailed, JobProgress
    from studio.core.jobs import ConvergeJob

    spec = ConvergenceSpec(samplers=("DDIM", "Euler", "UniPC"), steps=(2, 4))
    job = ConvergeJob(base=lane(ModelRef.embedded("emoji-teacher")), spec=spec)
    assert split_convergence(job, 1) == [job]
    assert split_convergence(replace_spec(job, ()), 4) == [replace_spec(job, ())]
    parts = split_convergence(job, 2)
    assert [p.spec.samplers for p in parts] == [("DDIM", "UniPC"), ("Euler",)]
    from studio.core.convergence import StudentCurve

    students = tuple(
        StudentCurve(model=ModelRef.embedded(name), sampler="DDIM trailing")
        for name in ("emoji-shortcut", "emoji-student-sid", "emoji-student-lcm")
    )
    dealt = split_convergence(replace_students(job, students), 2)
    assert [[s.model.location for s in p.spec.students] for p in dealt] == [
        ["emoji-shortcut", "emoji-student-lcm"],
        ["emoji-student-sid"],
    ], "each student runs on one replica only"
    assert all(p.spec.steps == spec.steps and p.base == job.base for p in parts)
    merge = ConvergeMerge(job, parts)
    a, b = (p.job_id for p in parts)
    point = ConvergencePoint(
        sampler="Euler",
        steps=2,
        nfe=2,
        network_passes=4,
        psnr=20.0,
        agreement=None,
        wall_s=0.1,
        cases=1,
    )
    (ready,) = merge.take(ConvergencePointReady(job_id=b, point=point))
    assert ready == ConvergencePointReady(job_id=job.job_id, point=point)
    merge.take(JobProgress(job_id=a, done=1, total=5, label="DDIM"))
    (progress,) = merge.take(JobProgress(job_id=b, done=2, total=3, label="Euler"))
    assert (progress.done, progress.total) == (3, 8)
    assert merge.take(JobFailed(job_id=a, message="The replica stopped.")) == []
    (end,) = merge.take(JobFinished(job_id=b))
    assert merge.finished and end == JobFailed(job_id=job.job_id, message="The replica stopped.")


def replace_spec(job, samplers):
    from dataclasses import replace

    return replace(job, spec=replace(job.spec, samplers=samplers))


def test_a_study_part_relays_only_the_event_types_its_merge_uses():
    from studio.cluster.fan_out import ConvergeMerge, GridMerge
    from studio.cluster.inbox import relayed
    from studio.core.events import JobProgress, JobQueued, JobStarted
    from studio.core.wire_types import EVENT_TYPES

    names = {kind.__name__ for kind in EVENT_TYPES}
    for merge in (GridMerge, ConvergeMerge):
        assert set(merge.RELAYED) <= names, "each relayed name is a wire event type"
        assert {"JobFinished", "JobFailed", "JobCancelled"} <= set(merge.RELAYED)
    step = StepProgress(job_id="j", lane=Lane.main, step=1, total=8, elapsed_s=0.1)
    events = [
        JobQueued(job_id="j", position=0),
        JobStarted(job_id="j"),
        step,
        JobProgress(job_id="j", done=0, total=1, label="x"),
        preview(Lane.main, 1),
        JobFinished(job_id="j"),
    ]
    assert relayed(events, ()) == events, "a plain job's request gets everything"
    kept = relayed(events, GridMerge.RELAYED)
    assert [type(e).__name__ for e in kept] == ["PreviewReady", "JobFinished"]
    assert relayed(events, ("ModelLoaded",)) == [events[-1]], "the last event always goes"
    assert relayed(events[:3], GridMerge.RELAYED) == []


def replace_students(job, students):
    return dataclasses.replace(job, spec=dataclasses.replace(job.spec, students=students))
