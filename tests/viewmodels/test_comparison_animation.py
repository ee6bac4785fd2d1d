"""A scripted comparison kept for its animation: the lanes' previews on their own clocks, the
frames in order with their durations and captions, the file written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.animation import GAP, Timing, caption_lines, render, timeline
from studio.core.jobs import Lane
from studio.viewmodels.session import SessionViewModel
from tests.viewmodels.fake_engine import STEP_S, FakeEngine


def compare(session: SessionViewModel, engine: FakeEngine, every: int = 1) -> None:
    session.preview_every = every
    session.width = session.height = 32
    session.generate()
    engine.pump(session.handle)


def test_a_finished_comparison_keeps_both_lanes_reels(session, engine) -> None:
    assert not session.comparison.can_animate
    compare(session, engine)
    assert session.comparison.can_animate
    teacher = session.comparison.reels[Lane.teacher]
    student = session.comparison.reels[Lane.student]
    assert [s.step for s in teacher.shots] == [*range(1, 26), 25]
    assert [s.step for s in student.shots] == [1, 2, 3, 4, 4]
    # The fake engine's x0 previews are shades 200 - step (teacher) and 190 - step (student).
    assert teacher.shots[9].image[0, 0, 0] == 190 and student.shots[0].image[0, 0, 0] == 189
    assert teacher.shots[9].at_s == pytest.approx(10 * STEP_S)
    assert (teacher.role, teacher.model, teacher.sampler) == (
        "Teacher",
        "emoji-teacher",
        "DPM++ 2M",
    )
    assert (student.role, student.model, student.sampler) == (
        "Student",
        "emoji-student-4step",
        "DDIM trailing",
    )


def test_the_animation_frames_order_timing_and_captions(session, engine) -> None:
    compare(session, engine)
    reels = [session.comparison.reels[Lane.teacher], session.comparison.reels[Lane.student]]
    frames = timeline(reels, Timing(duration_s=4.0, frame_s=0.08, hold_s=1.5))
    # Teacher 25 steps of 10 ms (0.25 s) in 4 s: one step every 2 samples of 80 ms; the student
    # is done (its final image, shot 4) after its 4th step while the teacher is on its 4th.
    assert [f.shots for f in frames[:6]] == [(-1, -1), (0, 0), (1, 1), (2, 2), (3, 4), (4, 4)]
    assert [f.shots for f in frames[5:]] == [(k, 4) for k in range(4, 24)] + [(25, 4)]
    assert len(frames) == 26
    assert [f.duration_ms for f in frames] == [160] * 25 + [1500]
    shown = [caption_lines(r, r.shots[i])[2] for r, i in zip(reels, frames[10].shots, strict=True)]
    assert shown == ["step 10/25 · 0.10 s", "step 4/4 · 0.04 s · done"]
    pixels = np.asarray(render(reels, frames[3], side=64))  # both on their 3rd step
    assert pixels[GAP + 32, GAP + 32, 0] == 197  # the teacher's x0 (200 - step)
    assert pixels[GAP + 32, 2 * GAP + 64 + 32, 0] == 187  # the student's x0 (190 - step)


def test_export_writes_a_webp_of_those_frames(session, engine, tmp_path: Path) -> None:
    compare(session, engine)
    path = session.comparison.export_animation(tmp_path / "cmp.webp")
    with Image.open(path) as image:
        assert image.format == "WEBP" and image.n_frames == 26


def test_without_previews_there_is_nothing_to_animate(session, engine, tmp_path: Path) -> None:
    compare(session, engine, every=0)
    assert session.comparison.available and not session.comparison.can_animate
    with pytest.raises(ValueError, match="previews on"):
        session.comparison.export_animation(tmp_path / "cmp.webp")


def test_a_new_job_forgets_the_last_comparisons_reels(session, engine) -> None:
    compare(session, engine)
    session.compare_mode = False
    session.generate()
    engine.pump(session.handle)
    assert session.comparison.reels == {} and not session.comparison.can_animate
