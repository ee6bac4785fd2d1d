"""Animated comparisons: reels on each lane's own clock, the timeline, captions, frames, files
(WebP, GIF, MP4)."""

from __future__ import annotations

import sys
import tempfile

import av
import numpy as np
import pytest
from PIL import Image

from studio.core import video
from studio.core.animation import (
    GAP,
    Frame,
    Timing,
    caption_lines,
    pane_size,
    render,
    seconds_text,
    timeline,
    writable_suffixes,
    write_animation,
)
from studio.core.events import GridCellFinished, LaneFinished, Timings
from studio.core.jobs import Lane
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.reels import MAX_SIDE, PreviewKeeper, Reel, Shot, grid_row_reels, lane_reel
from studio.core.video import frame_starts


def shade(value: int, side: int = 32) -> np.ndarray:
    return np.full((side, side, 3), value, dtype=np.uint8)


def finished(lane: Lane, model: str, sampler: str, steps: int, step_s: float) -> LaneFinished:
    params = GenerationParams(prompt="x", sampler=sampler, num_inference_steps=steps)
    return LaneFinished(
        job_id="j",
        lane=lane,
        images=(shade(250 if lane is Lane.teacher else 240),),
        params=params,
        model=ModelRef.embedded(model),
        timings=Timings(encode_s=0.5, step_s=(step_s,) * steps, decode_s=0.02, total_s=9.0),
        steps=steps,
    )


@pytest.fixture
def reels() -> list[Reel]:
    """The student ran first (as the engine runs a comparison), then the teacher: each reel is
    on its own lane's clock, so the order they ran in does not matter."""
    student = finished(Lane.student, "emoji-student-4step", "DDIM trailing", 4, 0.02)
    teacher = finished(Lane.teacher, "emoji-teacher", "DPM++ 2M", 25, 0.04)
    s = lane_reel("Student", student, {k: shade(100 + k) for k in range(1, 5)})
    t = lane_reel("Teacher", teacher, {k: shade(k) for k in range(1, 26)})
    return [t, s]


def test_a_lane_reel_puts_step_k_at_its_cumulative_step_time(reels) -> None:
    teacher, student = reels
    assert [s.step for s in student.shots] == [1, 2, 3, 4, 4]
    assert [round(s.at_s, 6) for s in student.shots] == [0.02, 0.04, 0.06, 0.08, 0.1]
    assert student.shots[-1].final and not any(s.final for s in student.shots[:-1])
    assert student.shots[-1].image[0, 0, 0] == 240
    assert round(teacher.end_s, 6) == 1.02  # 25 steps of 0.04 s, then the 0.02 s decode
    assert (teacher.model, teacher.sampler, teacher.total) == ("emoji-teacher", "DPM++ 2M", 25)


def test_the_timeline_scales_the_slower_run_to_the_duration_and_holds_the_end(reels) -> None:
    frames = timeline(reels, Timing(duration_s=4.0, frame_s=0.08, hold_s=1.5))
    shots = [frame.shots for frame in frames]
    assert shots[0] == (-1, -1)
    assert shots[-1] == (25, 4)  # both final images
    for pane in (0, 1):
        seen = [s[pane] for s in shots]
        assert seen == sorted(seen)
    # A sample every 1.02 s / 50 = 20.4 ms of real time: the student steps every 20 ms and is
    # done (its final image, index 4) at 0.10 s, while the teacher is on its 2nd step.
    assert shots[:6] == [(-1, -1), (-1, 0), (0, 1), (0, 2), (1, 3), (1, 4)]
    assert len(frames) == 29
    assert sum(f.duration_ms for f in frames) == 4000 + 1500
    assert frames[-1].duration_ms >= 1500
    assert all(f.duration_ms % 80 == 0 for f in frames[:-1])


def test_real_time_plays_the_lanes_as_they_ran() -> None:
    reel = Reel(
        role="",
        model="m",
        sampler="Euler",
        total=2,
        shots=(Shot(step=1, at_s=0.4, image=shade(1)), Shot(step=2, at_s=0.8, image=shade(2))),
    )
    frames = timeline([reel], Timing(duration_s=0, frame_s=0.1, hold_s=1.0))
    assert frames == [
        Frame(shots=(-1,), duration_ms=400),
        Frame(shots=(0,), duration_ms=400),
        Frame(shots=(1,), duration_ms=1000),
    ]


def test_captions_name_model_sampler_step_and_elapsed_time(reels) -> None:
    teacher, student = reels
    assert caption_lines(teacher, None) == (
        "Teacher: emoji-teacher",
        "DPM++ 2M",
        "step 0/25 · 0.00 s",
    )
    assert caption_lines(teacher, teacher.shots[9]) == (
        "Teacher: emoji-teacher",
        "DPM++ 2M",
        "step 10/25 · 0.40 s",
    )
    assert caption_lines(student, student.shots[-1])[2] == "step 4/4 · 0.10 s · done"
    assert seconds_text(12.345) == "12.3 s"


def test_a_frame_shows_both_panes_upscaled_with_captions(reels) -> None:
    image = render(reels, Frame(shots=(9, 4), duration_ms=80), side=128)
    assert pane_size(reels, 128) == (128, 128)
    pixels = np.asarray(image)
    left, right = pixels[GAP + 64, GAP + 64], pixels[GAP + 64, GAP + 128 + GAP + 64]
    assert tuple(left) == (10, 10, 10)  # the teacher's step-10 preview
    assert tuple(right) == (240, 240, 240)  # the student's final image
    band = pixels[GAP + 128 :, GAP : GAP + 128]
    assert (band > 200).any()  # caption text drawn in the band under the pane


@pytest.mark.parametrize("suffix", [".webp", ".gif"])
def test_write_animation_writes_every_frame_with_its_duration(reels, tmp_path, suffix) -> None:
    timing = Timing(duration_s=2.0)
    path = write_animation(tmp_path / f"cmp{suffix}", reels, timing, side=64)
    frames = timeline(reels, timing)
    with Image.open(path) as image:
        assert image.n_frames == len(frames)
        assert image.size[0] == 2 * 64 + 3 * GAP
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            image.load()
            durations.append(image.info["duration"])
    assert durations == [f.duration_ms for f in frames]
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_animation_refuses_other_suffixes_and_empty_reels(reels, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"\.webp, \.gif or \.mp4, not 'cmp\.avi'"):
        write_animation(tmp_path / "cmp.avi", reels)
    empty = Reel(role="", model="m", sampler="s", total=1, shots=())
    with pytest.raises(ValueError, match="no kept previews"):
        write_animation(tmp_path / "cmp.webp", [empty])
    assert not list(tmp_path.iterdir())


@pytest.fixture
def no_pyav(monkeypatch) -> None:
    monkeypatch.setattr(video, "video_available", lambda: False)


def test_mp4_is_writable_where_pyav_can_be_imported() -> None:
    assert video.video_available() and writable_suffixes() == [".webp", ".gif", ".mp4"]


def test_without_pyav_an_mp4_is_refused_and_webp_still_written(reels, tmp_path, no_pyav) -> None:
    assert writable_suffixes() == [".webp", ".gif"]
    with pytest.raises(ValueError, match=r"^MP4 needs PyAV \(the `av` package\), which is not"):
        write_animation(tmp_path / "cmp.mp4", reels, Timing(duration_s=1.0), side=32)
    with pytest.raises(ValueError, match=r"must end in \.webp or \.gif, not 'cmp\.avi'$"):
        write_animation(tmp_path / "cmp.avi", reels)
    assert not list(tmp_path.iterdir())
    assert write_animation(tmp_path / "cmp.webp", reels, Timing(duration_s=1.0), side=32).is_file()


def test_the_bundle_says_it_leaves_pyav_out_for_its_gpl_codecs(
    reels, tmp_path, no_pyav, monkeypatch
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(ValueError) as refused:
        write_animation(tmp_path / "cmp.mp4", reels)
    assert str(refused.value) == (
        "MP4 needs PyAV, which the desktop bundle leaves out because its FFmpeg carries "
        "GPL-licensed x264 and x265: save as .webp or .gif, or install Studio with pip to write MP4"
    )


def test_an_mp4_plays_every_frame_for_its_duration_at_even_size(reels, tmp_path) -> None:
    timing = Timing(duration_s=2.0)
    path = write_animation(tmp_path / "cmp.mp4", reels, timing, side=64)
    wanted = [f.duration_ms for f in timeline(reels, timing)]
    width, height = render(reels, timeline(reels, timing)[0], side=64).size
    assert height % 2 == 1  # so the video pads it by a row
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.format.name == "yuv420p"
        assert (stream.width, stream.height) == (width, height + 1)
        frames = list(container.decode(stream))
        total_s = float(stream.duration * stream.time_base)
    assert [round(float(f.duration * f.time_base) * 1000) for f in frames] == wanted
    assert [round(float(f.pts * f.time_base) * 1000) for f in frames] == frame_starts(wanted)
    assert abs(total_s - sum(wanted) / 1000) <= timing.frame_s
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_mp4_leaves_the_old_file_and_no_scratch(reels, tmp_path, monkeypatch) -> None:
    path = tmp_path / "out" / "cmp.mp4"
    path.parent.mkdir()
    path.write_bytes(b"old")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def broken(*args) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(video, "_mux", broken)
    with pytest.raises(OSError, match="No space left"):
        write_animation(path, reels, Timing(duration_s=1.0), side=32)
    assert path.read_bytes() == b"old"
    assert list(path.parent.iterdir()) == [path]
    assert not list(scratch.iterdir())


def test_the_preview_keeper_is_bounded_and_keeps_the_newest() -> None:
    keeper = PreviewKeeper(limit=10)
    for step in range(1, 101):
        keeper.add(step, shade(step, side=600))
    steps = sorted(keeper.frames)
    assert len(steps) <= 10 and steps[-1] == 100
    assert max(keeper.frames[100].shape[:2]) == MAX_SIDE
    assert not keeper.frames[100].flags.writeable


def test_a_grid_row_shows_each_cell_appearing_at_its_wall_time() -> None:
    def cell(x: int, steps: int, wall_s: float, image) -> GridCellFinished:
        params = GenerationParams(prompt="x", num_inference_steps=steps)
        model = ModelRef.embedded("emoji-teacher")
        return GridCellFinished(
            job_id="g", x=x, y=0, image=image, label=f"steps: {steps}",
            nfe=steps, params=params, model=model, timings=Timings(total_s=wall_s),
        )  # fmt: skip

    cells = [cell(1, 16, 0.8, shade(9)), cell(0, 4, 0.2, shade(8)), cell(2, 32, 0, None)]
    reels = grid_row_reels(cells)
    assert [r.role for r in reels] == ["steps: 4", "steps: 16", "steps: 32"]
    frames = timeline(reels, Timing(duration_s=0.8, frame_s=0.2, hold_s=1.0))
    assert [f.shots for f in frames] == [(-1, -1, -1), (0, -1, -1), (0, 0, -1)]
    assert caption_lines(reels[1], reels[1].shots[0])[2] == "step 16/16 · 0.80 s · done"
