"""The plot of part 4: quality against time per image, the teacher's curve and each student's,
with each student point's speed-up at equal quality written beside it.

Needs matplotlib (the `bench` extra: `pip install -e .[bench]`).
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

from benchmarks.speedup import Point, speedup
from studio.core.atomic import atomic_write_bytes

PLOT_NAME = "speedup-at-equal-quality.png"
TEACHER_COLOR = "#222222"
COLORS = ("#d1495b", "#00798c", "#edae49", "#66a182", "#8e6c8a", "#3d405b", "#f28e2b")
PANELS = (("accuracy", "subgroup accuracy (%)", 100.0), ("psnr", "PSNR to teacher-20 (dB)", 1.0))
MISSING = (
    "Drawing the speed-up plot needs matplotlib, which is not installed: install the bench "
    "extra (`pip install -e .[bench]`) and run the suite again."
)


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise RuntimeError(MISSING) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(points: list[Point]) -> dict[str, list[Point]]:
    """Each model's points along time, models in the order they first appear."""
    found: dict[str, list[Point]] = {}
    for p in points:
        found.setdefault(p.model, []).append(p)
    return {model: sorted(pts, key=lambda p: p.seconds) for model, pts in found.items()}


def _panel(ax, series: dict[str, list[Point]], teacher_name: str, panel: tuple) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator

    metric, label, scale = panel
    teacher = series[teacher_name]
    colors = itertools.cycle(COLORS)
    for model, pts in series.items():
        shown = [p for p in pts if p.quality(metric) is not None]
        if not shown:
            continue
        is_teacher = model == teacher_name
        color = TEACHER_COLOR if is_teacher else next(colors)
        xs, ys = [p.seconds * 1000 for p in shown], [p.quality(metric) * scale for p in shown]
        ax.plot(xs, ys, "-o" if is_teacher else "--s", color=color, label=model, ms=5, lw=1.5)
        for p, x, y in zip(shown, xs, ys, strict=True):
            text = f"{p.steps}"
            found = None if is_teacher else speedup(p, teacher, metric)
            if found is not None:
                text += f" · {found.text()}"
                if not found.bound:
                    ax.plot([x, x * found.ratio], [y, y], ":", color=color, lw=1, alpha=0.7)
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7.5)
    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=(2, 5)))
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("time per image (ms, log scale)")
    ax.set_ylabel(label)
    ax.grid(True, which="both", alpha=0.25)


def draw(points: list[Point], path: Path, subtitle: str, teacher_name: str = "") -> Path:
    """Write the two panels (accuracy and PSNR against time) as a PNG at `path`."""
    plt = _pyplot()
    teacher_name = teacher_name or next(p.model for p in points if p.reference)
    series = _series(points)
    series = {teacher_name: series.pop(teacher_name), **series}
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), dpi=110)
    for ax, panel in zip(axes, PANELS, strict=True):
        _panel(ax, series, teacher_name, panel)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(
        "Speed-up at equal quality: each label is steps · the student's speed-up against the "
        "teacher's curve (dotted: where the teacher reaches the same quality)\n"
        f"{subtitle}",
        fontsize=10,
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
