"""Helpers shared by the benchmarks: interleaved timing, medians and spreads, machine facts."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """Repeated timings of one variant."""

    name: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """Half the interquartile range, relative to the median."""
        q = statistics.quantiles(self.seconds, n=4) if len(self.seconds) > 1 else [0, 0, 0]
        return (q[2] - q[0]) / 2 / self.median if self.median else 0.0


def interleaved(
    variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, Sample]:
    """Run the variants round-robin (A B C A B C ...) so drift hits them alike."""
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: Sample(name, tuple(ts)) for name, ts in times.items()}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    import os

    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__} (threads {torch.get_num_threads()})"
    )


def publish(text: str, markdown: Path | None) -> None:
    """Print a benchmark's Markdown, and write it to `markdown` when one was asked for."""
    print(text)
    if markdown:
        markdown.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
