"""What the front ends need to know about a shortcut model, as plain values: the step counts it
was trained for, the recipe it runs with, and how a model folder says it is one."""

from __future__ import annotations

import math
from pathlib import Path

from studio.core.json_files import JsonFileError, read_json

SHORTCUT_METHOD = "shortcut model"
SHORTCUT_SAMPLER = "DDIM trailing"
MAX_SHORTCUT_STEPS = 128
SHORTCUT_STEP_COUNTS = tuple(2**k for k in range(int(math.log2(MAX_SHORTCUT_STEPS)) + 1))
RECORD = "training.json"


def is_shortcut_folder(folder: Path) -> bool:
    """Whether a model folder's training record says it is a shortcut model."""
    try:
        record = read_json(folder / RECORD, max_bytes=100_000)
    except (JsonFileError, OSError):
        return False
    return isinstance(record, dict) and record.get("method") == SHORTCUT_METHOD


def steps_sentence(name: str, counts: tuple[int, ...] = SHORTCUT_STEP_COUNTS) -> str:
    shown = ", ".join(str(n) for n in counts[:-1]) + f" or {counts[-1]}"
    return f"{name} is a shortcut model: it runs {shown} steps (powers of two), with DDIM trailing."
