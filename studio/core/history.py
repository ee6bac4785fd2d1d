"""What a saved image's extra keys record about its run: lane, job, batch index and times.

A comparison saves one PNG per lane; both carry the same `Job` id (and `Batch index` when the
job made several images), so an image's partner from the other lane can be found again later.
Times are written as "0.2620 s"; an image saved before they were recorded simply lacks them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from studio.core.events import Timings
from studio.core.gallery import GalleryItem
from studio.core.jobs import Lane

LANE_KEY = "Lane"
JOB_KEY = "Job"
BATCH_KEY = "Batch index"
PARTIAL_KEY = "Partial"
TIME_KEY = "Time"
DENOISE_KEY = "Denoise time"
PARTNER_LANES = {Lane.teacher.value: Lane.student.value, Lane.student.value: Lane.teacher.value}


def run_extra(*, lane: Lane, job_id: str, timings: Timings) -> dict[str, str]:
    """The extra keys every image of one lane's run gets: its lane, job and times."""
    return {
        LANE_KEY: lane.value,
        JOB_KEY: job_id,
        TIME_KEY: seconds_text(timings.total_s),
        DENOISE_KEY: seconds_text(timings.denoise_s),
    }


def seconds_text(seconds: float) -> str:
    return f"{seconds:.4f} s"


def recorded_seconds(extra: Mapping[str, str], key: str) -> float | None:
    """The duration written under `key` ("0.2620 s"), or None when absent or unreadable."""
    text = extra.get(key, "").strip().removesuffix("s").strip()
    if not text or len(text) > 40:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def lane_of(item: GalleryItem) -> str:
    """The lane an image was made in: teacher, student or main (main when not recorded)."""
    lane = item.parsed.extra.get(LANE_KEY, "") if item.parsed is not None else ""
    return lane if lane in {member.value for member in Lane} else Lane.main.value


def partner_of(item: GalleryItem, items: Iterable[GalleryItem]) -> GalleryItem | None:
    """The other lane's image of the same comparison (same job and batch index), if listed."""
    if item.parsed is None:
        return None
    job = item.parsed.extra.get(JOB_KEY, "")
    other = PARTNER_LANES.get(item.parsed.extra.get(LANE_KEY, ""))
    if not job or other is None:
        return None
    batch = item.parsed.extra.get(BATCH_KEY, "")
    for candidate in items:
        extra = candidate.parsed.extra if candidate.parsed is not None else {}
        same_run = extra.get(JOB_KEY) == job and extra.get(BATCH_KEY, "") == batch
        if same_run and extra.get(LANE_KEY) == other and candidate.path != item.path:
            return candidate
    return None
