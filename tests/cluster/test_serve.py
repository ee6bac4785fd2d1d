"""The served engine on a real local Ray (Serve + the HTTP ingress), through RemoteEngine."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal

import numpy as np
import pytest

from studio.cli.headless import run_job
from studio.core.commands import Cancel, Submit
from studio.core.events import (
    JobCancelled,
    JobFailed,
    JobFinished,
    LaneFinished,
    PreviewReady,
    StepProgress,
)
from studio.core.jobs import CompareJob, GenerateJob, Lane, LaneSpec, PreviewOptions
from studio.core.models import ModelRef
from studio.core.params import GenerationParams
from studio.core.remote_api import HEALTH, JOBS, MODELS, token_digest
from studio.core.wire import PROTOCOL_VERSION, to_json_dict
from studio.worker.remote_engine import RemoteEngine

TOKEN = "a-test-token-of-enough-length"
PORT = 8000
TEACHER = ModelRef.embedded("emoji-teacher")
STUDENT = ModelRef.embedded("emoji-student-4step")


def params(steps: int = 20, seed: int = 7) -> GenerationParams:
    return GenerationParams(
        prompt="a red heart",
        sampler="DPM++ 2M",
        num_inference_steps=steps,
        guidance_scale=3.0,
        seed=seed,
        width=32,
        height=32,
    )


@pytest.fixture(scope="module")
def served(ray_local):
    from studio.cluster import serve_app

    url = serve_app.start(
        serve_app.ServeSettings(port=PORT, replicas=1, token_digest=token_digest(TOKEN))
    )
    try:
        yield url
    finally:
        serve_app.stop()


def request(method: str, path: str, body: bytes = b"", token: str = TOKEN):
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connection.request(method, path, body, headers)
    response = connection.getresponse()
    return response.status, response.read()


def follow(engine: RemoteEngine, job, on_event) -> list:
    """Every event of one job, `on_event` seeing each as it comes."""

    async def run() -> list:
        seen = []
        engine.send(Submit(job=job))
        async for event in engine.listen():
            seen.append(event)
            on_event(event)
            if isinstance(event, JobFinished | JobCancelled | JobFailed) and (
                event.job_id == job.job_id
            ):
                return seen
        return seen

    return asyncio.run(asyncio.wait_for(run(), 240))


def test_a_remote_comparison_equals_a_local_one_bit_for_bit(served):
    job = CompareJob(
        teacher=LaneSpec(model=TEACHER, params=params()),
        student=LaneSpec(
            model=STUDENT,
            params=params(4).with_(sampler="DDIM trailing", guidance_scale=1.0),
        ),
        previews=PreviewOptions(every=1),
    )
    engine = RemoteEngine(served, TOKEN)
    try:
        remote = run_job(job, progress=False, host=engine)
    finally:
        engine.close()
    local = run_job(job, progress=False)
    assert remote.failure == "" and remote.compare is not None
    for lane in (Lane.teacher, Lane.student):
        assert np.array_equal(remote.lanes[lane].images[0], local.lanes[lane].images[0])
    assert remote.compare.psnr == pytest.approx(local.compare.psnr)


def test_without_the_token_every_route_but_health_is_refused(served):
    status, body = request("GET", HEALTH, token="")
    assert status == 200 and json.loads(body)["protocol"] == PROTOCOL_VERSION
    for method, path in (("GET", MODELS), ("POST", JOBS)):
        for token in ("", "wrong-token-of-enough-length"):
            status, body = request(method, path, b"{}", token=token)
            assert status == 401 and "token" in json.loads(body)["error"]
    engine = RemoteEngine(served, "")
    try:
        job = GenerateJob(lane=LaneSpec(model=TEACHER, params=params(2)))
        events = follow(engine, job, lambda event: None)
    finally:
        engine.close()
    assert isinstance(events[-1], JobFailed) and "token" in events[-1].message


def test_bad_requests_are_refused_in_one_sentence(served):
    status, body = request("POST", JOBS, b"not json")
    assert status == 400 and json.loads(body)["error"] == "The request body is not valid JSON."
    status, body = request("POST", JOBS, b"x" * (300 * 1024))
    assert status == 413
    pickled = GenerateJob(
        lane=LaneSpec(
            model=ModelRef(location="m.ckpt", source="file", allow_pickle=True), params=params(2)
        )
    )
    status, body = request("POST", JOBS, json.dumps(to_json_dict(Submit(job=pickled))).encode())
    assert status == 400 and "pickle" in json.loads(body)["error"]
    outside = GenerateJob(lane=LaneSpec(model=ModelRef(location="/etc"), params=params(2)))
    status, body = request("POST", JOBS, json.dumps(to_json_dict(Submit(job=outside))).encode())
    assert status == 400 and json.loads(body)["error"].count(".") >= 1


@pytest.mark.parametrize("keep", [False, True], ids=["cancel", "stop-and-keep"])
def test_a_running_job_stops_within_steps(served, keep):
    job = GenerateJob(lane=LaneSpec(model=TEACHER, params=params(400)))
    engine = RemoteEngine(served, TOKEN)
    steps: list[int] = []

    def on_event(event) -> None:
        if isinstance(event, StepProgress):
            steps.append(event.step)
            if len(steps) == 3:
                engine.send(Cancel(job_id=job.job_id, keep_partial=keep))

    try:
        events = follow(engine, job, on_event)
    finally:
        engine.close()
    end = events[-1]
    assert isinstance(end, JobCancelled) and end.kept_partial is keep
    assert max(steps) < 200, "the cancel should stop the job within a few steps"
    partial = [e for e in events if isinstance(e, LaneFinished)]
    assert (len(partial) == 1 and partial[0].partial) if keep else not partial


def test_a_replica_killed_mid_job_fails_that_job_and_serve_replaces_it(served):
    from ray import serve

    from studio.cluster.serve_app import APP_NAME, ENGINE

    handle = serve.get_deployment_handle(ENGINE, app_name=APP_NAME)
    pid = handle.pid.remote().result()
    job = GenerateJob(lane=LaneSpec(model=TEACHER, params=params(400)))
    engine = RemoteEngine(served, TOKEN)
    killed: list[int] = []

    def on_event(event) -> None:
        if isinstance(event, StepProgress | PreviewReady) and not killed:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        events = follow(engine, job, on_event)
        assert isinstance(events[-1], JobFailed) and "submit the job again" in events[-1].message
        again = GenerateJob(lane=LaneSpec(model=TEACHER, params=params(2)))
        assert isinstance(follow(engine, again, lambda event: None)[-1], JobFinished)
    finally:
        engine.close()
    assert handle.pid.remote().result() != pid


def test_a_replicas_engine_process_killed_mid_job_fails_that_job_and_the_replica_goes_on(served):
    from ray import serve

    from studio.cluster.serve_app import APP_NAME, ENGINE

    handle = serve.get_deployment_handle(ENGINE, app_name=APP_NAME)
    replica, child = handle.pid.remote().result(), handle.engine_pid.remote().result()
    assert child != replica
    job = GenerateJob(lane=LaneSpec(model=TEACHER, params=params(400)))
    engine = RemoteEngine(served, TOKEN)
    killed: list[int] = []

    def on_event(event) -> None:
        if isinstance(event, StepProgress | PreviewReady) and not killed:
            os.kill(child, signal.SIGKILL)
            killed.append(child)

    try:
        events = follow(engine, job, on_event)
        end = events[-1]
        assert isinstance(end, JobFailed) and "engine process was killed (SIGKILL" in end.message
        again = GenerateJob(lane=LaneSpec(model=TEACHER, params=params(2)))
        assert isinstance(follow(engine, again, lambda event: None)[-1], JobFinished)
    finally:
        engine.close()
    assert handle.pid.remote().result() == replica
    assert handle.engine_pid.remote().result() not in (child, replica)


def test_a_grid_spread_over_the_replicas_equals_the_local_grid(served):
    from studio.core.events import GridCellFinished, JobProgress
    from studio.core.grid import Axis, AxisName, GridSpec
    from studio.core.jobs import GridJob

    job = GridJob(
        base=LaneSpec(model=TEACHER, params=params(6)),
        grid=GridSpec(
            x=Axis(name=AxisName.sampler, values=("DDIM", "Euler", "UniPC")),
            y=Axis(name=AxisName.steps, values=(4, 6)),
        ),
    )
    engine = RemoteEngine(served, TOKEN)
    try:
        remote = follow(engine, job, lambda event: None)
    finally:
        engine.close()
    local = run_job(job, progress=False)
    cells = {(e.x, e.y): e for e in remote if isinstance(e, GridCellFinished)}
    assert isinstance(remote[-1], JobFinished) and len(cells) == 6
    assert [e.done for e in remote if isinstance(e, JobProgress)] == [1, 2, 3, 4, 5, 6]
    assert len(local.cells) == 6
    for cell in local.cells:
        mine = cells[(cell.x, cell.y)]
        assert mine.label == cell.label and not mine.error
        assert np.array_equal(mine.image, cell.image), (cell.x, cell.y)


def test_eval_prompts_on_the_served_engine_give_the_local_images(served):
    from studio.core.settings import LaneRecipe
    from studio.engine.model_cache import ModelCache
    from studio.engine.runner import Runner
    from studio.lab.evaluate import EvalItem, generate_set
    from studio.worker.remote_batch import RemoteBatch

    items = [EvalItem("a red heart", 0, 0), EvalItem("a green apple", 1, 1)]
    recipe = LaneRecipe(sampler="DDIM", num_inference_steps=4, guidance_scale=3.0)
    batch = RemoteBatch(served, TOKEN, parallel=2)
    remote = generate_set(batch, TEACHER, recipe, items)
    local = generate_set(Runner(ModelCache(capacity=1)), TEACHER, recipe, items)
    assert remote.shape == local.shape == (2, 32, 32, 3)
    assert np.array_equal(remote, local)
