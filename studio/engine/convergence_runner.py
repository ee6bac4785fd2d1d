"""Running convergence curves: references first, then every sampler at every step count.

Each case (prompt, seed) gets one reference image from `reference_sampler` at
`reference_steps`; each sampler then runs every step count on every case from the same
starting noise, and one point per (sampler, steps) is emitted as soon as its cases are done.
The spec's students follow, each with its own sampler and CFG at the step counts it takes
(a shortcut model: its powers of two), against the same references.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.core.convergence import (
    ConvergencePoint,
    StudentCurve,
    capped_psnr,
    deterministic_samplers,
)
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
from studio.engine.shortcut_model import STEP_COUNTS, check_sampler, is_shortcut
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
        loaded = self._load(self.job.base)
        samplers = spec.samplers or fitting_deterministic(loaded)
        check_fit(loaded, self.job.base, (spec.reference_sampler, *samplers))
        students = [self._student_runs(student) for student in spec.students]
        pairs = spec.cases(self.job.base.params.prompt, self.job.base.params.seed)
        runs = [
            (LaneSpec(model=self.job.base.model, params=self._base(sampler)), n, "")
            for sampler in samplers
            for n in spec.steps
            if takes(sampler, n) and model_takes(loaded, n)
        ]
        runs += [run for student in students for run in student]
        self.total = len(pairs) * (1 + len(runs))
        cases = self._references(pairs, loaded)
        for lane, steps, student in runs:
            point = self._point(lane, steps, cases, loaded, student)
            if point is None:
                return
            self.sink.emit(ConvergencePointReady(job_id=self.job.job_id, point=point))

    def _load(self, lane: LaneSpec) -> LoadedModel:
        loaded, _ = self.runner.load(
            self.job.job_id, self.job.lanes[0][0], lane, self.job, self.token, self.sink
        )
        return loaded

    def _student_runs(self, student: StudentCurve) -> list[tuple[LaneSpec, int, str]]:
        """A student's lane at each step count it takes, checked (loaded) before any run, so a
        sampler it cannot take is refused before the references are made."""
        lane = LaneSpec(model=student.model, params=self._base(student.sampler, student.guidance))
        loaded = self._load(lane)
        check_fit(loaded, lane, (student.sampler,))
        steps = self.job.spec.steps
        name = student.model.display_name
        return [
            (lane, n, name) for n in steps if takes(student.sampler, n) and model_takes(loaded, n)
        ]

    def _stopping(self) -> bool:
        self.token.check()
        return self.token.keep_partial

    def _base(self, sampler: str, guidance: float | None = None) -> GenerationParams:
        """The job's parameters with `sampler` (and a student's CFG), deterministic, batch 1."""
        params = self.job.base.params
        return params.with_(
            sampler=sampler,
            guidance_scale=params.guidance_scale if guidance is None else guidance,
            eta=0.0,
            batch_size=1,
            schedule=ScheduleOptions(),
        )

    def _sample(self, label: str, lane: LaneSpec) -> Sample:
        self.sink.emit(
            JobProgress(job_id=self.job.job_id, done=self.done, total=self.total, label=label)
        )
        result, _ = run_one(self.runner, self.job, lane, self.noise, self.token, self.sink)
        self.done += 1
        return result

    @staticmethod
    def _case(lane: LaneSpec, prompt: str, seed: int, steps: int) -> LaneSpec:
        params = lane.params.with_(prompt=prompt, seed=seed, num_inference_steps=steps)
        return LaneSpec(model=lane.model, params=params)

    def _references(self, pairs: list[tuple[str, int]], loaded: LoadedModel) -> list[Case]:
        spec = self.job.spec
        images = []
        reference = LaneSpec(model=self.job.base.model, params=self._base(spec.reference_sampler))
        for index, (prompt, seed) in enumerate(pairs, start=1):
            lane = self._case(reference, prompt, seed, spec.reference_steps)
            label = (
                f"reference {index}/{len(pairs)}: {spec.reference_sampler}, "
                f"{spec.reference_steps} steps"
            )
            images.append(self._sample(label, lane).images[0])
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
        self, lane: LaneSpec, steps: int, cases: list[Case], judged: LoadedModel, student: str
    ) -> ConvergencePoint | None:
        """The point of the lane's model and sampler at `steps` (`student`: the name of the
        student it belongs to, empty for the job's model); None when the run stops or a
        stop-and-keep cut it short."""
        if self._stopping():
            return None
        sampler = lane.params.sampler
        name = f"{student}, " if student else ""
        results = []
        for case in cases:
            one = self._case(lane, case.prompt, case.seed, steps)
            results.append(self._sample(f"{name}{sampler}, {steps} steps", one))
            if results[-1].partial:
                return None
        images = np.stack([r.images[0] for r in results])
        scores = [capped_psnr(psnr(img, c.reference)) for img, c in zip(images, cases, strict=True)]
        nfe = results[0].model_calls
        guided = lane.params.guidance_scale > 1
        return ConvergencePoint(
            sampler=sampler,
            steps=steps,
            nfe=nfe,
            network_passes=nfe * (2 if guided else 1),
            psnr=float(np.mean(scores)),
            agreement=self._agreement(images, cases, judged),
            wall_s=float(np.mean([r.timings.total_s for r in results])),
            cases=len(cases),
            model=student,
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


def model_takes(loaded: LoadedModel, steps: int) -> bool:
    """Whether the model runs at `steps`: a shortcut model only at the step sizes it learned."""
    unet = getattr(loaded.pipe, "unet", None)
    return steps in STEP_COUNTS if unet is not None and is_shortcut(unet) else True


def fitting_deterministic(loaded: LoadedModel) -> tuple[str, ...]:
    """The catalogue's deterministic samplers that are installed and run on this model, less
    those that first train something per model and step count (AMED: pick it by name)."""
    fitting = []
    unet = getattr(loaded.pipe, "unet", None)
    for name in deterministic_samplers():
        spec = resolve_spec(name)
        if not is_available(spec) or spec.needs_predictor:
            continue
        try:
            make_scheduler(loaded.base_scheduler_config, spec, kind=loaded.kind)
            if unet is not None:
                check_sampler(unet, spec.name, 0.0, "")
        except SamplerError:
            continue
        fitting.append(spec.name)
    return tuple(fitting)


def check_fit(loaded: LoadedModel, base: LaneSpec, samplers: tuple[str, ...]) -> None:
    """Raise SamplerError (one sentence) before any run when a chosen sampler cannot run
    (a shortcut model takes only its own)."""
    unet = getattr(loaded.pipe, "unet", None)
    for name in samplers:
        make_scheduler(
            loaded.base_scheduler_config, name, kind=loaded.kind, model_name=base.model.display_name
        )
        if unet is not None:
            check_sampler(unet, name, 0.0, base.model.display_name)


def run_convergence(
    runner: LaneRunner, job: ConvergeJob, token: CancelToken, sink: EventSink
) -> JobOutcome:
    ConvergenceRun(runner, job, token, sink).run()
    return JobOutcome({}, token.keep_partial)
