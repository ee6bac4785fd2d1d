"""The process engine's parts without a process: command lines, exit wording, the preview
credit channel, the control message on the wire, and the child's arguments."""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
import pytest

from studio.core.commands import Configure
from studio.core.engine_options import EngineOptions
from studio.core.events import JobStarted, LaneFinished, PreviewReady, Timings
from studio.core.jobs import Lane
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.wire import to_json_dict
from studio.core.wire_control import PreviewTaken
from studio.core.wire_frames import decode, encode
from studio.worker import child_start
from studio.worker.child_start import child_command, describe_exit
from studio.worker.engine_child import maybe_run_engine_child, options_of, parse_args
from studio.worker.pretend_runner import Script
from studio.worker.preview_credits import CreditedChannel


def preview(step: int, lane: Lane = Lane.main, job_id: str = "j") -> PreviewReady:
    image = np.zeros((2, 2, 3), np.uint8)
    return PreviewReady(job_id=job_id, lane=lane, step=step, total=9, x_t=image)


def finished(lane: Lane = Lane.main) -> LaneFinished:
    return LaneFinished(
        job_id="j",
        lane=lane,
        images=(),
        params=GenerationParams(),
        model=ModelRef.embedded("x"),
        timings=Timings(),
        steps=1,
    )


def test_the_child_runs_as_a_module_or_as_the_frozen_executable(monkeypatch) -> None:
    plain = child_command("pretend", None, restarted=False)
    assert plain[:3] == [sys.executable, "-m", "studio.worker.engine_child"]
    assert "--restarted" not in plain
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    frozen = child_command("default", EngineOptions(), restarted=True)
    assert frozen[:2] == [sys.executable, child_start.FROZEN_FLAG]
    assert frozen[-1] == "--restarted"
    assert child_start.child_environment() is None


def test_the_childs_arguments_carry_the_runner_and_the_settings() -> None:
    options = EngineOptions()
    text = " ".join(child_command("pretend", options, restarted=False))
    args = parse_args(child_command("pretend", options, False)[3:])
    assert args.runner == "pretend" and "--options" in text
    assert options_of(args.options) == options
    with pytest.raises(SystemExit):
        parse_args(["--runner", "os.system"])


def test_an_entry_point_that_is_not_the_engine_child_goes_on() -> None:
    assert maybe_run_engine_child(["studio"]) is False
    assert maybe_run_engine_child(["studio", "window"]) is False


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (-9, "was killed (SIGKILL, often the system running out of memory)"),
        (-11, "crashed (SIGSEGV) in native code"),
        (-6, "crashed (SIGABRT) in native code"),
        (-15, "was stopped by SIGTERM"),
        (3, "exited with code 3"),
        (0, "exited unexpectedly"),
        (None, "stopped answering"),
    ],
)
def test_an_exit_is_told_in_words(code, words) -> None:
    assert describe_exit(code) == words


def test_the_preview_credit_crosses_the_wire() -> None:
    taken = PreviewTaken(job_id="abc", lane=Lane.student, step=4)
    assert decode(encode(taken)) == taken  # type: ignore[arg-type]


def test_a_lane_renders_no_preview_until_the_last_one_is_taken() -> None:
    channel = CreditedChannel()
    made: list[int] = []

    def offer(step: int, lane: Lane = Lane.main) -> bool:
        return channel.offer_preview(lane, lambda: made.append(step) or preview(step, lane))

    assert offer(1)
    assert [type(e) for e in channel.drain()] == [PreviewReady]
    assert not offer(2)
    assert offer(2, Lane.student)
    channel.grant("j", Lane.main, 2)
    channel.grant("other", Lane.main, 1)
    assert not offer(3)
    channel.grant("j", Lane.main, 1)
    assert offer(4)
    assert made == [1, 2, 4]


def test_a_finished_lane_takes_previews_again() -> None:
    channel = CreditedChannel()
    assert channel.offer_preview(Lane.main, lambda: preview(1))
    channel.drain()
    channel.emit(finished())
    assert channel.offer_preview(Lane.main, lambda: preview(1, job_id="next"))


def test_a_job_start_waits_until_it_is_written() -> None:
    channel = CreditedChannel(start_barrier_s=5.0)
    started = JobStarted(job_id="j")
    threading.Timer(0.2, channel.written, args=(started,)).start()
    begun = time.monotonic()
    channel.emit(started)
    assert 0.15 < time.monotonic() - begun < 4.0
    quick = CreditedChannel(start_barrier_s=0.05)
    quick.emit(started)
    assert [type(e) for e in quick.drain()] == [JobStarted]


def test_a_pretend_script_is_read_from_the_prompt() -> None:
    assert Script.parse("a cat sleep=0.5 crash=segv@3") == Script(0.5, "segv", 3)
    assert Script.parse("plain") == Script()


def test_options_must_be_a_configure() -> None:
    options = EngineOptions()
    assert options_of(None) is None
    assert options_of(json.dumps(to_json_dict(Configure(options=options)))) == options
