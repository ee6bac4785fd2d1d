"""The words of a small `studio compare` run on one tiny model folder, shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path


def compare_words(
    folder: Path, out: Path, *extra: str, teacher_steps: int = 6, student_steps: int = 2
) -> list[str]:
    """`compare` of `folder` against itself at 32x32, quiet, writing `out`, then `extra`."""
    return [
        "compare",
        "--teacher",
        str(folder),
        "--student",
        str(folder),
        "--teacher-steps",
        str(teacher_steps),
        "--student-steps",
        str(student_steps),
        "--width",
        "32",
        "--height",
        "32",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
