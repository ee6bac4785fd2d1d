"""Engine runner factories for the composition roots (the window and the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from studio.core.engine_options import EngineOptions

if TYPE_CHECKING:
    from studio.engine.runner import Runner


def judged_runner(options: EngineOptions | None = None) -> Runner:
    """The engine's default runner with the emoji subgroup classifier as its image judge, so
    convergence curves also report classifier agreement (built on the engine thread)."""
    from studio.engine.judge import SubgroupJudge
    from studio.worker.host import default_runner_factory

    return default_runner_factory(options, judge=SubgroupJudge())
