"""SessionViewModel driven by a scripted engine: jobs built, events routed, cancel and stop."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.client import EngineClient
from studio.core.commands import Cancel, Submit
from studio.core.events import (
    EngineStatus,
    EngineStopped,
    JobFailed,
    LaneFinished,
    PreviewReady,
    StepProgress,
)
from studio.core.jobs import CompareJob, GenerateJob, Lane
from studio.core.models import ModelRef, ModelSource
from studio.core.recipes import NEGATIVE_IGNORED
from studio.core.settings import SeedMode, Settings
from studio.viewmodels.session import SessionViewModel
from tests.viewmodels.fake_engine import FAIL_MESSAGE, FakeEngine, fake_image


def run(session: SessionViewModel, engine: FakeEngine) -> None:
    engine.pump(session.handle)


def test_generate_sends_a_compare_job(session: SessionViewModel, engine: FakeEngine, qtbot) -> None:
    session.seed = 42
    with qtbot.waitSignal(session.busyChanged) as blocker:
        (job_id,) = session.generate()
    assert blocker.args == [True]
    (command,) = engine.sent
    job = command.job
    assert isinstance(job, CompareJob) and job.job_id == job_id
    assert job.teacher.model == ModelRef.embedded("emoji-teacher")
    assert job.student.model == ModelRef.embedded("emoji-student-4step")
    assert (job.teacher.params.seed, job.student.params.seed) == (42, 42)
    assert (job.teacher.params.sampler, job.student.params.num_inference_steps) == ("DPM++ 2M", 4)
    assert job.previews.every == 1
    assert [e.job_id for e in session.queue.pending] == [job_id]


def test_full_comparison_reaches_lanes_comparison_and_gallery(
    session: SessionViewModel, engine: FakeEngine, qtbot
) -> None:
    session.generate()
    with qtbot.waitSignal(session.busyChanged) as blocker:
        run(session, engine)
    assert blocker.args == [False]
    teacher, student = session.teacher, session.student
    assert teacher.image[0, 0, 0] == 200 and student.image[0, 0, 0] == 190
    assert teacher.history_steps == list(range(1, 26)) and student.history_steps == [1, 2, 3, 4]
    assert (teacher.status, student.status) == (
        "Done: 25 steps in 0.26 s",
        "Done: 4 steps in 0.05 s",
    )
    assert session.comparison.summary.startswith("Student 5.2x faster · PSNR 28.1 dB · SSIM")
    lanes = [item.parsed.extra["Lane"] for item in session.gallery.items]
    assert lanes == ["student", "teacher"]
    assert session.queue.count == 0 and not session.busy


def test_generate_only_maps_main_lane_to_teacher(session: SessionViewModel, engine) -> None:
    session.compare_mode = False
    session.generate()
    (job,) = engine.jobs
    assert isinstance(job, GenerateJob) and job.lane.model.location == "emoji-teacher"
    run(session, engine)
    assert session.teacher.image is not None and session.student.image is None
    assert [i.parsed.extra["Lane"] for i in session.gallery.items] == ["main"]
    assert not session.comparison.available


def test_problems_block_the_job_with_one_error(session: SessionViewModel, engine, qtbot) -> None:
    session.width = 33
    session.student.num_inference_steps = 0
    with qtbot.waitSignal(session.error) as blocker:
        assert session.generate() == []
    assert "not a multiple of 8" in blocker.args[0] and "Student: " in blocker.args[0]
    assert engine.sent == [] and not session.busy
    assert session.job_problems()


def test_unknown_model_folder_is_a_problem(session: SessionViewModel, engine, tmp_path) -> None:
    session.student_model = "./no/such/model"
    assert session.generate() == [] and "no model folder" in session.last_error
    session.student_model = str(tmp_path)
    session.generate()
    assert engine.jobs[0].student.model.source is ModelSource.folder


@pytest.mark.parametrize(
    ("mode", "seeds", "after"),
    [("fixed", [5, 5, 5], 5), ("increment", [5, 6, 7], 8), ("random", None, 5)],
)
def test_batch_count_and_seed_modes(session, engine, mode, seeds, after) -> None:
    session.seed, session.seed_mode, session.batch_count = 5, mode, 3
    assert len(session.generate()) == 3
    used = [job.teacher.params.seed for job in engine.jobs]
    assert used == (seeds or used) and session.seed == after
    if mode == "random":
        assert len(set(used)) == 3
    assert session.queue.count == 3 and session.seed_mode is SeedMode(mode)


def test_cancel_discards_running_and_queued(session: SessionViewModel, engine, qtbot) -> None:
    session.batch_count = 3
    session.generate()

    def handle(event):
        session.handle(event)
        if isinstance(event, StepProgress) and event.step == 2:
            session.cancel()

    engine.pump(handle)
    cancels = [c for c in engine.sent if isinstance(c, Cancel)]
    assert len(cancels) == 3 and not any(c.keep_partial for c in cancels)
    assert session.teacher.status == "Cancelled" and session.teacher.step == 2
    assert session.gallery.items == [] and session.queue.count == 0 and not session.busy


def test_events_of_discarded_and_unknown_jobs_are_dropped(
    session: SessionViewModel, engine
) -> None:
    (job_id,) = session.generate()
    run_until = iter(engine.events())
    while not isinstance(event := next(run_until), StepProgress):
        session.handle(event)
    session.handle(event)
    session.cancel()
    late = StepProgress(job_id=job_id, lane=Lane.teacher, step=9, total=25, elapsed_s=1.0)
    session.handle(late)
    session.handle(StepProgress(job_id="stranger", lane=Lane.teacher, step=7, total=9, elapsed_s=1))
    assert session.teacher.step == 1
    for event in run_until:
        session.handle(event)
    assert session.teacher.status == "Cancelled" and not session.busy


def test_stop_keeps_the_partial_image(session: SessionViewModel, engine) -> None:
    session.generate()

    def handle(event):
        session.handle(event)
        if isinstance(event, StepProgress) and event.step == 3:
            session.stop()

    engine.pump(handle)
    assert next(c for c in engine.sent if isinstance(c, Cancel)).keep_partial
    assert session.teacher.partial and session.teacher.steps == 3
    assert session.student.status == "Stopped" and not session.student.running
    (item,) = session.gallery.items
    (job,) = engine.jobs
    assert item.parsed.extra == {
        "Lane": "teacher",
        "Job": job.job_id,
        "Time": "0.0400 s",
        "Denoise time": "0.0300 s",
        "Partial": "stopped after 3 steps",
    }


def test_failure_shows_one_sentence_and_app_stays_usable(qapp, store, qtbot) -> None:
    engine = FakeEngine(fail_at_step=2)
    session = SessionViewModel(engine, store)
    session.generate()
    with qtbot.waitSignal(session.error) as blocker:
        run(session, engine)
    assert blocker.args == [FAIL_MESSAGE]
    assert session.teacher.status == "Failed" and not session.busy
    engine.fail_at_step = None
    session.generate()
    run(session, engine)
    assert session.student.image is not None


def test_engine_level_failure_and_stop(session: SessionViewModel, engine, qtbot) -> None:
    with qtbot.waitSignal(session.error) as blocker:
        session.handle(JobFailed(job_id="", message="The model could not be loaded."))
    assert blocker.args == ["The model could not be loaded."]
    session.generate()
    engine.pump(lambda e: None if isinstance(e, LaneFinished) else session.handle(e))
    session.generate()
    session.handle(EngineStopped(reasons=("torch failed to import.",)))
    assert session.last_error == "torch failed to import." and not session.busy
    assert session.queue.count == 0


def test_submit_refused_by_a_closed_engine(session: SessionViewModel, engine) -> None:
    engine.close()
    assert session.generate() == []
    assert "did not take the job" in session.last_error and not session.busy


def test_recipe_warnings_follow_the_prompt(session: SessionViewModel, qtbot) -> None:
    assert session.teacher.warnings == [] and session.student.warnings == []
    with qtbot.waitSignal(session.student.messagesChanged):
        session.negative_prompt = "blurry"
    assert session.student.warnings == [NEGATIVE_IGNORED] and session.teacher.warnings == []
    session.student.guidance_scale = 2.0
    assert any("guidance-distilled" in w for w in session.student.warnings)


def test_settings_apply_to_the_session(qapp, engine, store) -> None:
    settings = Settings(compare_mode=False, batch_count=4, preview_every=0)
    session = SessionViewModel(engine, store, settings)
    assert (session.compare_mode, session.batch_count, session.preview_every) == (False, 4, 0)
    assert session.prompt == settings.shared.prompt
    session.generate()
    assert engine.jobs[0].previews.every == 0 and len(engine.jobs) == 4


def test_preview_arrays_reach_the_lane(session: SessionViewModel, engine) -> None:
    (job_id,) = session.generate()
    job = engine.jobs[0]
    for event in engine.events():
        session.handle(event)
        if isinstance(event, PreviewReady) and event.lane is Lane.teacher and event.step == 2:
            break
    assert np.array_equal(session.teacher.preview, fake_image(job.teacher, 198))
    assert session.current_job_id == job_id and isinstance(engine.sent[0], Submit)


def test_the_engine_client_protocol_has_alive_and_revive_and_the_fake_keeps_it(
    engine: FakeEngine,
) -> None:
    members = ("send", "listen", "close", "alive", "revive")
    assert all(hasattr(EngineClient, name) for name in members)
    assert isinstance(engine, EngineClient)
    assert engine.alive and not engine.revive()
    engine.close()
    assert not engine.alive


def test_job_queued_confirms_the_queue_entry(session: SessionViewModel, engine: FakeEngine) -> None:
    (job_id,) = session.generate()
    assert [e.confirmed for e in session.queue.pending] == [False]
    session.handle(next(engine.events()))
    assert [(e.job_id, e.confirmed) for e in session.queue.pending] == [(job_id, True)]


def test_an_engine_status_event_becomes_the_engine_status_signal(
    session: SessionViewModel, engine: FakeEngine, qtbot
) -> None:
    with qtbot.waitSignal(session.engineStatus) as blocker:
        session.handle(EngineStatus(text="Loading emoji-teacher…"))
    assert blocker.args == ["Loading emoji-teacher…"]
