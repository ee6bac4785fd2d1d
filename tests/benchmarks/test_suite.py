"""The benchmark suite's plumbing: its report block, merged JSON, speed-up arithmetic, refusals,
and one quick run of real parts into a temporary report (structure only, never timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import BEGIN, END, ReportError, replace_block, write_report
from benchmarks.results import PartResult, Stat, Table, Target
from benchmarks.speedup import Point, speedup
from benchmarks.suite import NO_CUDA, PARTS, main

ROOT = Path(__file__).resolve().parents[2]
HAND = "# Benchmarks\n\nIntro by hand.\n\n## Studio window\n\nKept as written.\n"


def part(key: str, value: str) -> PartResult:
    return PartResult(
        key=key,
        title=f"Part {key}",
        method="How.",
        tables=(Table(columns=("a", "b"), rows=(("x", value),)),),
        targets=(Target(what="w", limit="< 1", value=value, met=False, reason="why"),),
    )


def test_the_block_goes_after_the_title_and_then_replaces_only_itself() -> None:
    first = replace_block(HAND, f"{BEGIN}\none\n{END}")
    assert first.startswith("# Benchmarks\n\n" + BEGIN)
    assert first.endswith("## Studio window\n\nKept as written.\n")
    second = replace_block(first + "\nLater by hand.\n", f"{BEGIN}\ntwo\n{END}")
    assert "one" not in second and "two" in second
    assert second.count(BEGIN) == 1 and "Kept as written." in second
    assert second.endswith("Later by hand.\n")


def test_a_report_with_broken_markers_is_left_alone() -> None:
    with pytest.raises(ReportError, match="one pair"):
        replace_block(f"{BEGIN}\n{BEGIN}\n{END}\n", "new")
    with pytest.raises(ReportError, match="one pair"):
        replace_block(f"# T\n{BEGIN}\nno end\n", "new")


def test_a_partial_run_keeps_the_other_parts(tmp_path: Path) -> None:
    out, raw = tmp_path / "B.md", tmp_path / "b.json"
    out.write_text(HAND, encoding="utf-8")
    write_report(out, raw, {"overhead": part("overhead", "1.5")}, PARTS)
    write_report(out, raw, {"startup": part("startup", "2.5")}, PARTS)
    write_report(out, raw, {"overhead": part("overhead", "0.5")}, PARTS)
    text = out.read_text(encoding="utf-8")
    assert text.index("Part overhead") < text.index("Part startup")
    assert "| x | 0.5 |" in text and "| x | 1.5 |" not in text and "| x | 2.5 |" in text
    assert "**not met**: why" in text and "Kept as written." in text
    kept = json.loads(raw.read_text(encoding="utf-8"))
    assert list(kept["parts"]) == ["overhead", "startup"]
    assert PartResult.from_json(kept["parts"]["startup"]) == part("startup", "2.5")


def test_stat_gives_median_and_quartiles() -> None:
    s = Stat.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.q1, s.q3, s.low, s.high, s.n) == (3.0, 2.0, 4.0, 1.0, 5.0, 5)
    assert s.text(1) == "3.0 (2.0–4.0)" and Stat.of([2.0]).text(1) == "2.0"


def test_speedup_reads_the_teacher_curve_in_log_time() -> None:
    teacher = [
        Point(model="t", steps=4, seconds=0.1, accuracy=0.4),
        Point(model="t", steps=8, seconds=0.4, accuracy=0.6),
        Point(model="t", steps=16, seconds=0.8, accuracy=0.55),
    ]
    halfway = speedup(Point(model="s", steps=1, seconds=0.02, accuracy=0.5), teacher, "accuracy")
    assert halfway is not None and halfway.bound == ""
    assert halfway.ratio == pytest.approx(0.2 / 0.02)
    low = speedup(Point(model="s", steps=1, seconds=0.05, accuracy=0.3), teacher, "accuracy")
    high = speedup(Point(model="s", steps=1, seconds=0.1, accuracy=0.7), teacher, "accuracy")
    assert low is not None and (low.bound, low.ratio) == ("≤", pytest.approx(2.0))
    assert high is not None and (high.bound, high.ratio) == ("≥", pytest.approx(4.0))
    assert speedup(Point(model="s", steps=1, seconds=0.1, accuracy=0.5), teacher, "psnr") is None


def test_unknown_parts_and_missing_cuda_stop_before_any_work(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit, match="unknown part nope"):
        main(["--only", "overhead,nope", "--out", str(tmp_path / "B.md")])
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["--gpu", "--only", "gpu", "--out", str(tmp_path / "B.md")]) == 2
    assert NO_CUDA in capsys.readouterr().err
    assert not (tmp_path / "B.md").exists()


def test_studio_bench_hands_its_arguments_to_the_suite(tmp_path) -> None:
    from studio.cli import main as studio_main

    with pytest.raises(SystemExit, match="unknown part nope"):
        studio_main(["bench", "--only", "nope", "--out", str(tmp_path / "B.md")])


def test_a_quick_run_writes_the_block_and_the_json(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "BENCHMARKS.md"
    out.parent.mkdir()
    out.write_text(HAND, encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)]
    command += ["--only", "memory,gpu", "--gpu-device", "cpu", "--tiny"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert text.index(BEGIN) < text.index("## Studio window") < text.index("Kept as written.")
    block = text[text.index(BEGIN) : text.index(END)]
    for expected in ("--quick --out", "Quick run", "cores", "torch ", "diffusers ", "PySide6 "):
        assert expected in block
    assert "### 5a. Memory over generations" in block and "### 6. GPU" in block
    assert "| target | limit | this run | verdict |" in block
    assert "| after 4 generations |" in block
    assert "tiny decoder (AutoencoderTiny" in block and "denoising it/s" in block
    raw = json.loads((out.parent / "benchmarks.json").read_text(encoding="utf-8"))
    assert list(raw["parts"]) == ["memory", "gpu"]
    assert len(raw["parts"]["memory"]["raw"]["rss_mb"]) == 4
    assert raw["parts"]["gpu"]["run"]["quick"] is True
