"""Reference images for the cancel tests, computed in a fresh process that never saw a cancel.

Why a subprocess and not a second EngineHost in the same process: a cancelled job could leave
state behind in anything the process shares (a module-level text encoder, a hook left on a
module, a patched scheduler, torch's global state), and a second host in the same process
shares all of that, so its image would carry the same damage and still compare equal. A fresh
interpreter shares nothing but the files on disk. It runs the same code path (an EngineHost
over the default Runner), on one torch thread like the tests, and takes the jobs in reverse
order so that an order dependence would show too.

Run: `python -m tests.worker.reference_images SPECS.json OUT.npz`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.events import JobCancelled, JobFailed, JobFinished, LaneFinished
from studio.core.jobs import CompareJob, GenerateJob, Job, LaneSpec, PreviewOptions
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ScheduleOptions
from studio.core.skip_tuning import SkipTuning

REPO_ROOT = Path(__file__).resolve().parents[2]
FINAL = (JobFinished, JobCancelled, JobFailed)


def _lane_spec(spec: LaneSpec) -> dict[str, Any]:
    params = spec.params
    if not params.schedule.is_default() or params.skip_tuning != SkipTuning():
        raise ValueError("reference specs carry default schedules and no Skip-Tuning")
    fields = {k: v for k, v in asdict(params).items() if k not in {"schedule", "skip_tuning"}}
    model = spec.model
    return {"model": [model.location, model.source.value, model.label], "params": fields}


def spec_of(job: Job) -> dict[str, Any]:
    """A JSON-able description of a GenerateJob or CompareJob, keyed by its job id."""
    lanes = [_lane_spec(spec) for _, spec in job.lanes]
    return {"key": job.job_id, "compare": isinstance(job, CompareJob), "lanes": lanes}


def _lane_of(data: dict[str, Any]) -> LaneSpec:
    location, source, label = data["model"]
    model = ModelRef(location=location, source=ModelSource(source), label=label)
    params = GenerationParams(**data["params"], schedule=ScheduleOptions())
    return LaneSpec(model=model, params=params)


def job_of(spec: dict[str, Any]) -> Job:
    lanes = [_lane_of(lane) for lane in spec["lanes"]]
    previews = PreviewOptions(every=0)
    if spec["compare"]:
        return CompareJob(teacher=lanes[0], student=lanes[1], previews=previews)
    return GenerateJob(lane=lanes[0], previews=previews)


def image_key(job_id: str, lane: str) -> str:
    return f"{job_id}/{lane}"


def fresh_runner() -> Any:
    import torch

    from studio.worker.host import default_runner_factory

    runner = default_runner_factory()
    torch.set_num_threads(1)
    return runner


async def _collect(host: Any, count: int) -> list[Any]:
    events, finals = [], 0
    async for event in host.listen():
        events.append(event)
        finals += isinstance(event, FINAL)
        if finals == count:
            break
    return events


def compute(specs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Run the specs (last first) through a new EngineHost; images keyed `job_id/lane`."""
    from studio.worker.host import EngineHost

    jobs = {spec["key"]: job_of(spec) for spec in specs}
    host = EngineHost(runner_factory=fresh_runner)
    try:
        for spec in reversed(specs):
            host.submit(jobs[spec["key"]])
        events = asyncio.run(_collect(host, len(specs)))
    finally:
        host.close()
    keys = {job.job_id: key for key, job in jobs.items()}
    failed = [e for e in events if isinstance(e, JobFailed | JobCancelled)]
    if failed:
        raise RuntimeError(f"reference jobs did not finish: {failed}")
    return {
        image_key(keys[e.job_id], e.lane.value): np.stack(e.images)
        for e in events
        if isinstance(e, LaneFinished)
    }


def references(jobs: list[Job], timeout: float = 3600.0) -> dict[str, np.ndarray]:
    """The images of `jobs` as a fresh process makes them, keyed `job_id/lane`."""
    with tempfile.TemporaryDirectory() as tmp:
        specs_path, out_path = Path(tmp) / "specs.json", Path(tmp) / "out.npz"
        specs_path.write_text(json.dumps([spec_of(job) for job in jobs]), encoding="utf-8")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
        command = [sys.executable, "-m", "tests.worker.reference_images"]
        subprocess.run(
            [*command, str(specs_path), str(out_path)],
            cwd=REPO_ROOT,
            env=env,
            check=True,
            timeout=timeout,
        )
        with np.load(out_path) as data:
            return {key: data[key] for key in data.files}


def main(argv: list[str]) -> None:
    specs = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    np.savez(argv[1], **compute(specs))


if __name__ == "__main__":
    main(sys.argv[1:])
