"""Running convergence curves: references first, then every sampler at every step count.

Each case (prompt, seed) gets one reference image from `reference_sampler` at
`reference_steps`; each sampler then runs every step count on every case from the same
starting noise, and one point per (sampler, steps) is emitted as soon as its cases are done.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.core.convergence import ConvergencePoint, capped_psnr, deterministic_samplers
from studio.core.events import ConvergencePointReady, JobProgress
from studio.core.jobs import ConvergeJob, LaneSpec
from studio.core.metrics import psnr
from studio.core.params import GenerationParams, ScheduleOptions
from studio.engine.cancel import CancelToken
from studio.engine.emoji_pipeline import EmojiPipeline
from studio.engine.loading import LoadedModel
from studio.engine.observer import EventSink
from studio.engine.samplers import SamplerError, is_available, make_scheduler, resolve_spec
from studio.engine.sampling import Sample
from studio.engine.strategy import JobOutcome, LaneRunner
from studio.engine.studies import NoiseBank, run_one


@dataclass(frozen=True, slots=True)
class Case:
    """One prompt and seed of a convergence job, with its reference image and judged class."""

    prompt: str
    seed: int
    reference: np.ndarray
    label: int | None


class ConvergenceRun:
    """Runs one ConvergeJob: counts its progress, keeps its references, emits its points."""

    def __init__(
        self, runner: LaneRunner, job: ConvergeJob, token: CancelToken, sink: EventSink
    ) -> None:
        self.runner, self.job, self.token, self.sink = runner, job, token, sink
        self.noise = NoiseBank()
        self.done = 0
        self.total = 0

    def run(self) -> None:
        spec = self.job.spec
        loaded, _ = self.runner.load(
            self.job.job_id, self.job.lanes[0][0], self.job.base, self.job, self.token, self.sink
        )
        samplers = spec.samplers or fitting_deterministic(loaded)
        check_fit(loaded, self.job.base, (spec.reference_sampler, *samplers))
        pairs = spec.cases(self.job.base.params.prompt, self.job.base.params.seed)
        runs = [(sampler, n) for sampler in samplers for n in spec.steps if takes(sampler, n)]
        self.total = len(pairs) * (1 + len(runs))
        cases = self._references(pairs, loaded)
        for sampler, steps in runs:
            point = None if self._stopping() else self._point(sampler, steps, cases, loaded)
            if point is None:
                return
            self.sink.emit(ConvergencePointReady(job_id=self.job.job_id, point=point))

    def _stopping(self) -> bool:
        self.token.check()
        return self.token.keep_partial

    def _params(self, prompt: str, seed: int, sampler: str, steps: int) -> GenerationParams:
        return self.job.base.params.with_(
            prompt=prompt,
            seed=seed,
            sampler=sampler,
            num_inference_steps=steps,
            eta=0.0,
            batch_size=1,
            schedule=ScheduleOptions(),
        )

    def _sample(self, label: str, params: GenerationParams) -> Sample:
        self.sink.emit(
            JobProgress(job_id=self.job.job_id, done=self.done, total=self.total, label=label)
        )
        spec = LaneSpec(model=self.job.base.model, params=params)
        result, _ = run_one(self.runner, self.job, spec, self.noise, self.token, self.sink)
        self.done += 1
        return result

    def _references(self, pairs: list[tuple[str, int]], loaded: LoadedModel) -> list[Case]:
        spec = self.job.spec
        images = []
        for index, (prompt, seed) in enumerate(pairs, start=1):
            params = self._params(prompt, seed, spec.reference_sampler, spec.reference_steps)
            label = (
                f"reference {index}/{len(pairs)}: {spec.reference_sampler}, "
                f"{spec.reference_steps} steps"
            )
            images.append(self._sample(label, params).images[0])
        labels = self._judge(np.stack(images), loaded)
        return [
            Case(p, s, image, None if labels is None else int(labels[i]))
            for i, ((p, s), image) in enumerate(zip(pairs, images, strict=True))
        ]

    def _judge(self, images: np.ndarray, loaded: LoadedModel) -> np.ndarray | None:
        judge = self.runner.judge
        if judge is None or not isinstance(loaded.pipe, EmojiPipeline):
            return None
        return judge(images)

    def _point(
        self, sampler: str, steps: int, cases: list[Case], loaded: LoadedModel
    ) -> ConvergencePoint | None:
        """The point of `sampler` at `steps`; None when a stop-and-keep cut a run short."""
        results = []
        for case in cases:
            params = self._params(case.prompt, case.seed, sampler, steps)
            results.append(self._sample(f"{sampler}, {steps} steps", params))
            if results[-1].partial:
                return None
        images = np.stack([r.images[0] for r in results])
        scores = [capped_psnr(psnr(img, c.reference)) for img, c in zip(images, cases, strict=True)]
        nfe = results[0].model_calls
        guided = self.job.base.params.guidance_scale > 1
        return ConvergencePoint(
            sampler=sampler,
            steps=steps,
            nfe=nfe,
            network_passes=nfe * (2 if guided else 1),
            psnr=float(np.mean(scores)),
            agreement=self._agreement(images, cases, loaded),
            wall_s=float(np.mean([r.timings.total_s for r in results])),
            cases=len(cases),
        )

    def _agreement(
        self, images: np.ndarray, cases: list[Case], loaded: LoadedModel
    ) -> float | None:
        if any(c.label is None for c in cases):
            return None
        labels = self._judge(images, loaded)
        if labels is None:
            return None
        return float(np.mean([int(a) == c.label for a, c in zip(labels, cases, strict=True)]))


def takes(sampler: str, steps: int) -> bool:
    """Whether `sampler` runs at `steps` (AMED needs at least 3); curves leave the rest out."""
    return steps >= resolve_spec(sampler).min_steps


def fitting_deterministic(loaded: LoadedModel) -> tuple[str, ...]:
    """The catalogue's deterministic samplers that are installed and run on this model, less
    those that first train something per model and step count (AMED: pick it by name)."""
    fitting = []
    for name in deterministic_samplers():
        spec = resolve_spec(name)
        if not is_available(spec) or spec.needs_predictor:
            continue
        try:
            make_scheduler(loaded.base_scheduler_config, spec, kind=loaded.kind)
        except SamplerError:
            continue
        fitting.append(spec.name)
    return tuple(fitting)


def check_fit(loaded: LoadedModel, base: LaneSpec, samplers: tuple[str, ...]) -> None:
    """Raise SamplerError (one sentence) before any run when a chosen sampler cannot run."""
    for name in samplers:
        make_scheduler(
            loaded.base_scheduler_config, name, kind=loaded.kind, model_name=base.model.display_name
        )


def run_convergence(
    runner: LaneRunner, job: ConvergeJob, token: CancelToken, sink: EventSink
) -> JobOutcome:
    ConvergenceRun(runner, job, token, sink).run()
    return JobOutcome({}, token.keep_partial)
