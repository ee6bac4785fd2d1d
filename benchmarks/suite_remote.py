"""Suite part: the engine served on Ray (`studio serve`) against the in-process engine.

Runs only inside a private network namespace (all of Ray on loopback):

    unshare -n bash -c 'ip link set lo up && exec python -m benchmarks --only remote'

A local Ray instance with 2 CPUs; each engine replica holds one CPU (one torch thread), and the
in-process engine here is held to one thread too, so both run the same arithmetic.
1. The teacher recipe (DPM++ 2M, 20 steps, CFG 3, previews every step), submit → final event,
   through `RemoteEngine` → HTTP → the ingress → a replica, interleaved round by round with the
   same job on an in-process `EngineHost` (both the benchmark runner: the judged default one).
   The replica runs its engine in a child process (the served default, judged); a second
   application, whose replica runs the engine on a thread of its own (`studio serve
   --engine-thread`), takes its turn in every round too, to show what the child buys: on a
   thread, Serve's streaming of every event takes the interpreter lock from the engine's steps.
2. Preview latency: each preview from its step's end in the replica (a `perf_counter` stamp the
   benchmark runner writes to a file; CLOCK_MONOTONIC is one clock for every process here) to
   its delivery to the consumer of `RemoteEngine.listen()`, the window's event loop.
3. Grid throughput: a 4 x 2 grid (samplers x steps) of the teacher, spread over the replicas,
   with the application deployed with 2 replicas and with 1, alternately. The ingress keeps two
   cells in flight per replica (a replica starts its next cell as one ends, with no round trip
   between), and the replicas send it only the events its merge uses (not 20 step events a
   cell): the replicas' share of the CPU is what the ratio measures, and Ray's own processes
   (ingress, controller, proxy, GCS; about 0.5 CPU-s per grid) take the rest.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.options import PartOptions
from benchmarks.results import PartResult, Stat, Table, Target, within_spread
from studio.core.commands import Submit
from studio.core.events import FINAL_EVENTS, JobFailed, PreviewReady
from studio.core.grid import Axis, AxisName, GridSpec
from studio.core.jobs import GenerateJob, GridJob, Job, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.core.params import GenerationParams

RATIO_LIMIT = 1.10
PREVIEW_P99_MS = 50.0
GRID_SPEEDUP = 1.7
ROUNDS, QUICK_ROUNDS = 15, 2
THREAD_APP, THREAD_PREFIX = "studio-thread", "/thread"
GRID_ROUNDS, QUICK_GRID_ROUNDS = 6, 1
NOT_ISOLATED = (
    "This part starts Ray, which must stay on loopback: run it in a private network namespace, "
    "unshare -n bash -c 'ip link set lo up && exec python -m benchmarks --only remote'."
)


def teacher_job(job_id: str) -> GenerateJob:
    params = GenerationParams(
        prompt="a red heart",
        sampler="DPM++ 2M",
        num_inference_steps=20,
        guidance_scale=3.0,
        seed=11,
        width=32,
        height=32,
    )
    lane = LaneSpec(model=ModelRef.embedded("emoji-teacher"), params=params)
    return GenerateJob(lane=lane, previews=PreviewOptions(every=1), job_id=job_id)


def grid_job(job_id: str) -> GridJob:
    base = teacher_job(job_id).lane
    grid = GridSpec(
        x=Axis(name=AxisName.sampler, values=("DDIM", "Euler", "DPM++ 2M", "UniPC")),
        y=Axis(name=AxisName.steps, values=(10, 20)),
    )
    return GridJob(base=base, grid=grid, job_id=job_id)


async def timed(client, job: Job, arrivals: dict | None = None) -> float:
    """Seconds from submit to the job's final event; notes when each preview arrived."""
    started = time.perf_counter()
    client.send(Submit(job=job))
    async for event in client.listen():
        if isinstance(event, PreviewReady) and arrivals is not None:
            arrivals[(event.job_id, event.lane.value, event.step)] = time.perf_counter()
        if isinstance(event, FINAL_EVENTS) and event.job_id == job.job_id:
            if isinstance(event, JobFailed):
                raise RuntimeError(event.message)
            return time.perf_counter() - started
    raise RuntimeError("the engine stopped")


def only_loopback() -> bool:
    return {name for _, name in socket.if_nameindex()} <= {"lo"}


def percentile(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, round(q * (len(data) - 1)))]


def run(options: PartOptions) -> PartResult:
    title = "Remote engine on Ray Serve"
    if not only_loopback():
        return PartResult(key="remote", title=title, method=NOT_ISOLATED, raw={"failed": True})
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="studio-remote-") as folder:
        stamps_file = Path(folder) / "stamps.txt"
        os.environ["STUDIO_STAMPS_FILE"] = str(stamps_file)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray

        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            return measure(options, stamps_file, title)
        finally:
            ray.shutdown()


def measure(options: PartOptions, stamps_file: Path, title: str) -> PartResult:
    from ray import serve

    from studio.cluster import serve_app
    from studio.worker.bench_runner import benchmark_runner, read_stamps
    from studio.worker.host import EngineHost
    from studio.worker.remote_engine import RemoteEngine

    rounds = QUICK_ROUNDS if options.quick else ROUNDS
    settings = serve_app.ServeSettings(replicas=1, runner="benchmark")
    url = serve_app.start(settings)
    threaded = replace(settings, engine_in_thread=True)
    serve.run(serve_app.application(threaded), name=THREAD_APP, route_prefix=THREAD_PREFIX)
    remote = RemoteEngine(url)
    on_thread = RemoteEngine(url + THREAD_PREFIX)
    local = EngineHost(runner_factory=lambda: benchmark_runner(None))
    arrivals: dict = {}
    times: dict[str, list[float]] = {"in-process": [], "remote": [], "remote, thread": []}
    try:
        for name, client in (("local", local), ("remote", remote), ("thread", on_thread)):
            asyncio.run(timed(client, teacher_job(f"warm-{name}")))
        for i in range(rounds):
            times["in-process"].append(asyncio.run(timed(local, teacher_job(f"local-{i}"))))
            times["remote"].append(asyncio.run(timed(remote, teacher_job(f"remote-{i}"), arrivals)))
            job = teacher_job(f"thread-{i}")
            times["remote, thread"].append(asyncio.run(timed(on_thread, job)))
        on_thread.close()
        serve.delete(THREAD_APP)
        grids = grid_rounds(serve_app, settings, options)
    finally:
        remote.close()
        on_thread.close()
        local.close()
        serve_app.stop()
    stamps = read_stamps(stamps_file)
    latency = [(at - stamps[key]) * 1000 for key, at in arrivals.items() if key in stamps]
    return result(title, rounds, times, latency, grids)


def grid_rounds(serve_app, settings, options: PartOptions) -> dict[str, list[float]]:
    from studio.worker.remote_engine import RemoteEngine

    seconds: dict[str, list[float]] = {"1 replica": [], "2 replicas": []}
    rounds = QUICK_GRID_ROUNDS if options.quick else GRID_ROUNDS
    for i in range(rounds):
        for replicas in (2, 1):
            from ray import serve

            serve.run(
                serve_app.application(replace(settings, replicas=replicas)),
                name=serve_app.APP_NAME,
                route_prefix="/",
            )
            client = RemoteEngine(f"http://127.0.0.1:{settings.port}")
            try:
                asyncio.run(timed(client, grid_job(f"warm-grid-{replicas}-{i}")))
                key = f"{replicas} replica" + ("s" if replicas > 1 else "")
                seconds[key].append(asyncio.run(timed(client, grid_job(f"grid-{replicas}-{i}"))))
            finally:
                client.close()
    return seconds


def result(
    title: str,
    rounds: int,
    times: dict[str, list[float]],
    latency: list[float],
    grids: dict[str, list[float]],
) -> PartResult:
    local, remote = Stat.of(times["in-process"]), Stat.of(times["remote"])
    ratio = remote.median / local.median
    paired = Stat.of(r / b for r, b in zip(times["remote"], times["in-process"], strict=True))
    thread = Stat.of(times["remote, thread"])
    thread_paired = Stat.of(
        r / b for r, b in zip(times["remote, thread"], times["in-process"], strict=True)
    )
    p99 = percentile(latency, 0.99) if latency else float("nan")
    one, two = Stat.of(grids["1 replica"]), Stat.of(grids["2 replicas"])
    speedup = one.median / two.median
    spreads = [local.relative_spread, remote.relative_spread]
    targets = (
        Target(
            what="teacher recipe, submit → image: remote engine over localhost / in-process",
            limit=f"≤ {RATIO_LIMIT}",
            value=f"{ratio:.3f}",
            met=ratio <= RATIO_LIMIT,
            reason=""
            if ratio <= RATIO_LIMIT
            else within_spread(ratio, RATIO_LIMIT, spreads, rounds),
        ),
        Target(
            what="step end → preview at the window's event loop, through the remote engine, p99",
            limit=f"< {PREVIEW_P99_MS:g} ms",
            value=f"{p99:.1f} ms",
            met=p99 < PREVIEW_P99_MS,
        ),
        Target(
            what="grid throughput (4 x 2 cells), 2 CPU replicas / 1",
            limit=f"≥ {GRID_SPEEDUP}",
            value=f"{speedup:.3f}",
            met=speedup >= GRID_SPEEDUP,
            reason=""
            if speedup >= GRID_SPEEDUP
            else within_spread(
                speedup, GRID_SPEEDUP, [one.relative_spread, two.relative_spread], one.n
            ),
        ),
    )
    tables = (
        Table(
            columns=(
                "job",
                "in-process, median s (IQR)",
                "remote, median s (IQR)",
                "ratio",
                "per-round ratio (IQR)",
            ),
            rows=(
                (
                    "teacher, DPM++ 2M 20 steps CFG 3, previews every step; replica's engine "
                    "in a child process (default)",
                    local.text(4),
                    remote.text(4),
                    f"{ratio:.3f}",
                    paired.text(3),
                ),
                (
                    "the same, replica's engine on a thread of the replica (--engine-thread)",
                    local.text(4),
                    thread.text(4),
                    f"{thread.median / local.median:.3f}",
                    thread_paired.text(3),
                ),
            ),
        ),
        Table(
            columns=("previews", "median ms", "p90 ms", "p99 ms", "max ms"),
            rows=(
                (
                    str(len(latency)),
                    f"{percentile(latency, 0.5):.1f}",
                    f"{percentile(latency, 0.9):.1f}",
                    f"{p99:.1f}",
                    f"{max(latency):.1f}",
                ),
            ),
        ),
        Table(
            columns=("grid 4 x 2, teacher", "1 replica, s", "2 replicas, s", "speed-up"),
            rows=(("wall, submit → final event", one.text(2), two.text(2), f"{speedup:.2f}"),),
        ),
    )
    method = __doc__.split("\n\n", 1)[1].strip()
    raw = {"times": times, "latency_ms": latency, "grids": grids}
    return PartResult(
        key="remote", title=title, method=method, tables=tables, targets=targets, raw=raw
    )
