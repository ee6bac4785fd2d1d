"""A process that writes settings or gallery images until it is killed (for test_atomic_kill).

    python -m tests.core.atomic_child MODE TARGET [--slow] [--naive]

MODE `settings` saves two different Settings alternately to TARGET (a file); MODE `gallery`
saves two different large images alternately into TARGET (a folder). Each write prints
`begin N`, and with --slow the data goes out in small pieces with `partial N` printed after the
first piece and a pause, then `synced N` after fsync and `replaced N` after the rename, each
followed by a pause: the parent kills the process at one of these marks. --naive writes the
settings in place (no temp file) for the control case that shows what the test detects.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np

from studio.core import atomic
from studio.core.gallery import GalleryStore
from studio.core.params import GenerationParams
from studio.core.settings import Settings, SharedParams, save_settings, settings_to_json

PAUSE_S = 0.5
PIECE = 4096


def variants() -> tuple[Settings, Settings]:
    """Two settings whose files differ in every byte range that matters (long prompts)."""
    first = replace(Settings(), shared=SharedParams(prompt="a" * 3000, seed=1))
    second = replace(Settings(), shared=SharedParams(prompt="b" * 3900, seed=2))
    return first, second


def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    big = (768, 768, 3)
    return rng.integers(0, 256, big, dtype=np.uint8), rng.integers(0, 256, big, dtype=np.uint8)


def say(text: str) -> None:
    print(text, flush=True)


class SlowFile:
    """A file that writes in small pieces and says when it is part-way through."""

    def __init__(self, real: Any, number: int) -> None:
        self.real, self.number, self.told = real, number, False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), PIECE):
            self.real.write(view[start : start + PIECE])
            if not self.told:
                self.real.flush()
                self.told = True
                say(f"partial {self.number}")
                time.sleep(PAUSE_S)
        return len(view)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def __enter__(self) -> SlowFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()


def slow_down(counter: list[int]) -> None:
    """Make the real atomic write pause and report at each of its phases."""
    real_open, real_fsync, real_replace = pathlib.Path.open, os.fsync, os.replace

    def open_(self: pathlib.Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        return SlowFile(handle, counter[0]) if self.name.endswith(".tmp") else handle

    def fsync(fd: int) -> None:
        real_fsync(fd)
        say(f"synced {counter[0]}")
        time.sleep(PAUSE_S)

    def replace_(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        say(f"replaced {counter[0]}")
        time.sleep(PAUSE_S)

    pathlib.Path.open = open_  # type: ignore[method-assign]
    atomic.os.fsync = fsync  # type: ignore[attr-defined]
    atomic.os.replace = replace_  # type: ignore[attr-defined]


def naive_save(path: pathlib.Path, settings: Settings, number: int) -> None:
    """What the studio must not do: write the file in place."""
    import json

    data = (json.dumps(settings_to_json(settings), indent=2) + "\n").encode()
    with path.open("wb") as handle:
        SlowFile(handle, number).write(data)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["settings", "gallery"])
    parser.add_argument("target", type=pathlib.Path)
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--naive", action="store_true")
    args = parser.parse_args(argv)
    counter = [0]
    if args.slow:
        slow_down(counter)
    pair = variants()
    pictures = images()
    store = GalleryStore(args.target)
    while True:
        counter[0] += 1
        say(f"begin {counter[0]}")
        which = counter[0] % 2
        if args.mode == "gallery":
            store.save(pictures[which], GenerationParams(seed=which))
        elif args.naive:
            naive_save(args.target, pair[which], counter[0])
        else:
            save_settings(args.target, pair[which])


if __name__ == "__main__":
    main(sys.argv[1:])
