"""What saved images record about their run (lane, job, times), finding a comparison's partner
image again, and reading a saved image's pixels back for display."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.core.events import Timings
from studio.core.gallery import GalleryItem, GalleryStore
from studio.core.history import (
    DENOISE_KEY,
    TIME_KEY,
    lane_of,
    partner_of,
    recorded_seconds,
    run_extra,
)
from studio.core.jobs import Lane
from studio.core.metadata import MetadataError
from studio.core.params import GenerationParams
from studio.core.pngio import read_image, write_png

IMAGE = np.arange(8 * 12 * 3, dtype=np.uint8).reshape(8, 12, 3)
PARAMS = GenerationParams(prompt="a fox", width=16, height=8)


def saved(store: GalleryStore, lane: Lane, job: str, **extra: str) -> GalleryItem:
    timings = Timings(step_s=(0.1, 0.2), total_s=0.5)
    recorded = run_extra(lane=lane, job_id=job, timings=timings) | extra
    return store.save(IMAGE, PARAMS, model="m", extra=recorded)


def test_the_run_keys_survive_the_png(tmp_path: Path) -> None:
    item = saved(GalleryStore(tmp_path), Lane.student, "job1")
    assert item.parsed is not None
    assert item.parsed.extra == {
        "Lane": "student",
        "Job": "job1",
        "Time": "0.5000 s",
        "Denoise time": "0.3000 s",
    }
    assert recorded_seconds(item.parsed.extra, TIME_KEY) == 0.5
    assert recorded_seconds(item.parsed.extra, DENOISE_KEY) == 0.3
    assert lane_of(item) == "student"


@pytest.mark.parametrize("text", ["", "fast", "-1 s", "inf s", "nan s", "1" * 50])
def test_unreadable_times_are_unknown(text: str) -> None:
    assert recorded_seconds({TIME_KEY: text}, TIME_KEY) is None
    assert recorded_seconds({}, TIME_KEY) is None
    assert recorded_seconds({TIME_KEY: "2"}, TIME_KEY) == 2.0


def test_the_partner_is_the_other_lane_of_the_same_job_and_batch(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path)
    teacher = saved(store, Lane.teacher, "job1")
    student = saved(store, Lane.student, "job1")
    other_job = saved(store, Lane.student, "job2")
    items = [other_job, student, teacher]
    assert partner_of(teacher, items) == student
    assert partner_of(student, items) == teacher
    assert partner_of(other_job, items) is None
    assert partner_of(teacher, [teacher]) is None


def test_batches_pair_by_their_index(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path)
    t0, t1 = (saved(store, Lane.teacher, "j", **{"Batch index": str(i)}) for i in (0, 1))
    s0, s1 = (saved(store, Lane.student, "j", **{"Batch index": str(i)}) for i in (0, 1))
    items = [s1, s0, t1, t0]
    assert partner_of(t1, items) == s1 and partner_of(s0, items) == t0


def test_images_without_a_job_or_a_lane_have_no_partner(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path)
    old_teacher = store.save(IMAGE, PARAMS, extra={"Lane": "teacher"})
    old_student = store.save(IMAGE, PARAMS, extra={"Lane": "student"})
    main = saved(store, Lane.main, "j")
    foreign = store.save(IMAGE, PARAMS)
    items = [old_teacher, old_student, main, foreign]
    assert all(partner_of(item, items) is None for item in items)
    assert lane_of(foreign) == "main" and lane_of(main) == "main"


def test_read_image_gives_the_saved_pixels_read_only(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", IMAGE, "x")
    pixels = read_image(path)
    assert np.array_equal(pixels, IMAGE) and not pixels.flags.writeable


def test_read_image_refuses_damaged_and_oversized_files(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", IMAGE, "x")
    with pytest.raises(MetadataError, match="too large to show"):
        read_image(path, max_pixels=8 * 12 - 1)
    cut = tmp_path / "cut.png"
    cut.write_bytes(path.read_bytes()[:60])
    with pytest.raises(MetadataError, match="not a readable image"):
        read_image(cut)
    with pytest.raises(MetadataError):
        read_image(tmp_path / "missing.png")
