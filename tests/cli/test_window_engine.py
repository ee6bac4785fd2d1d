"""`studio --engine URL` and `studio window --engine URL`: the window starts on a served engine,
and a URL that cannot be one is refused in one sentence before any window opens."""

from __future__ import annotations

from pathlib import Path

import pytest

import studio.app
import studio.cli.window
from studio.cli import main

TOKEN = "s3cret-token-0123456789"


class EarlyEngine:
    """Stands in for the engine process `studio` starts before the window's imports."""

    closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def opened(monkeypatch) -> list[dict]:
    """What `studio.app.run` was asked to open, instead of opening it."""
    calls: list[dict] = []
    monkeypatch.setattr(studio.app, "run", lambda **kwargs: calls.append(kwargs) or 0)
    monkeypatch.setattr(studio.cli.window, "early_engine", EarlyEngine)
    return calls


@pytest.mark.parametrize("command", [[], ["window"]], ids=["studio", "studio window"])
@pytest.mark.parametrize("url", ["ftp://gpu-box", "http://gpu-box:99999", "http://a/?b=c", ""])
def test_a_url_that_is_no_engine_exits_2_with_one_sentence(
    command: list[str], url: str, opened: list[dict], capsys
):
    assert main([*command, "--engine", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("studio: The engine URL") and err.endswith(".")
    assert len(err.splitlines()) == 1 and err.count(". ") == 0
    assert not opened


@pytest.mark.parametrize("command", [[], ["window"]], ids=["studio", "studio window"])
def test_the_window_opens_on_the_served_engine_with_the_token_of_the_file(
    command: list[str], opened: list[dict], tmp_path: Path
):
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    assert main([*command, "--engine", "gpu-box", "--token-file", str(token_file)]) == 0
    assert opened[0]["engine_url"] == "http://gpu-box:8000"
    assert opened[0]["engine_token"] == TOKEN


def test_without_engine_the_window_opens_on_this_computer(opened: list[dict]):
    assert main([]) == 0
    assert opened[0]["engine_url"] == ""
    assert isinstance(opened[0]["client"], EarlyEngine), "the engine started before the window"


def test_a_served_or_thread_engine_starts_no_engine_process_early(opened: list[dict]):
    assert main(["--engine", "http://gpu-box:8000"]) == 0
    assert main(["window", "--thread-engine"]) == 0
    assert [call["client"] for call in opened] == [None, None]


def test_the_early_engine_is_closed_when_the_window_cannot_open(monkeypatch):
    started: list[EarlyEngine] = []

    def early() -> EarlyEngine:
        started.append(EarlyEngine())
        return started[-1]

    def broken(**kwargs) -> int:
        raise RuntimeError("no display")

    monkeypatch.setattr(studio.cli.window, "early_engine", early)
    monkeypatch.setattr(studio.app, "run", broken)
    with pytest.raises(RuntimeError):
        main([])
    assert started and started[0].closed


def test_compare_keeps_its_own_engine_option(monkeypatch):
    from studio.cli import build_parser

    args = build_parser().parse_args(["compare", "--engine", "process"])
    assert args.engine == "process" and args.func.__name__ != "cmd_window"
