"""The wire codec: every command, job and event round-trips through frames and plain JSON,
equal and with byte-identical read-only images; each kind of bad input is refused in one
sentence; frames cross a BytesIO, a pipe and a socket."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import socket
import struct
from typing import Any, get_args

import numpy as np
import pytest

from studio.core.commands import Cancel, Command, Configure, LoadModel, Shutdown, Submit
from studio.core.convergence import ConvergencePoint, ConvergenceSpec, StudentCurve
from studio.core.engine_options import Device, EngineOptions, Offload
from studio.core.events import (
    CompareFinished,
    ConvergencePointReady,
    DownloadProgress,
    EngineConfigured,
    EngineStatus,
    EngineStopped,
    Event,
    GridCellFinished,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobProgress,
    JobQueued,
    JobStarted,
    LaneFinished,
    ModelLoaded,
    PrepareProgress,
    PreviewReady,
    StepProgress,
    Timings,
)
from studio.core.grid import Axis, AxisName, GridSpec, LaneChoice
from studio.core.jobs import (
    CompareJob,
    ConvergeJob,
    GenerateJob,
    GridJob,
    Job,
    Lane,
    LaneSpec,
    PreviewOptions,
)
from studio.core.models import ModelRef, ModelSource
from studio.core.params import GenerationParams, ScheduleOptions, Sigmas, Spacing
from studio.core.skip_tuning import SkipTuning
from studio.core.student_refs import AdapterKind, AdapterRef, StudentRef, StudentSampling
from studio.core.wire import (
    PROTOCOL_VERSION,
    WireError,
    WireLimits,
    from_json_dict,
    to_json_dict,
)
from studio.core.wire_frames import MAGIC, PREFIX, decode, encode, read_frame, write_frame
from studio.core.wire_types import CONTROL_TYPES, MESSAGE_TYPES

TEACHER = ModelRef.embedded("emoji-teacher")
FILE = ModelRef(location="/models/sd15.safetensors", source=ModelSource.file, allow_pickle=True)
STUDENT = StudentRef(
    location="stabilityai/stable-diffusion-xl-base-1.0",
    source=ModelSource.hub,
    adapter=AdapterRef(
        kind=AdapterKind.lora,
        location="latent-consistency/lcm-lora-sdxl",
        file="pytorch_lora_weights.safetensors",
        scale=0.75,
    ),
    sampling=StudentSampling(
        pipeline="StableDiffusionXLPipeline",
        scheduler="LCMScheduler",
        scheduler_overrides=(("timestep_spacing", "trailing"), ("rescale", True), ("x", None)),
        timesteps=(999, 759, 499, 259),
        call_kwargs=(("max_sequence_length", 256), ("strength", 0.5)),
    ),
)
PARAMS = GenerationParams(
    prompt='a lighthouse at dusk, 🌊 "quoted" \\ and\nnewline',
    negative_prompt="blurry",
    sampler="Euler",
    num_inference_steps=4,
    guidance_scale=1.5,
    eta=0.25,
    classifier_scale=2.0,
    seed=2**32 - 1,
    width=64,
    height=32,
    batch_size=2,
    schedule=ScheduleOptions(sigmas=Sigmas.karras, spacing=Spacing.trailing, rescale_zero_snr=True),
    skip_tuning=SkipTuning(rho_top=1.0, rho_bottom=0.9),
)
LANE = LaneSpec(model=TEACHER, params=PARAMS)
STUDENT_LANE = LaneSpec(model=STUDENT, params=PARAMS.with_(num_inference_steps=2))
GRID = GridSpec(
    x=Axis(name=AxisName.steps, values=(4, 8, 16)),
    y=Axis(
        name=AxisName.lane,
        values=(
            LaneChoice(name="Teacher", model=TEACHER, params=PARAMS),
            LaneChoice(name="Student", model=STUDENT, params=PARAMS.with_(guidance_scale=0.0)),
        ),
    ),
)
JOBS: list[Job] = [
    GenerateJob(lane=LANE, previews=PreviewOptions(every=2, max_side=128)),
    CompareJob(teacher=LANE, student=STUDENT_LANE, job_id="cmp-1"),
    GridJob(base=LANE, grid=GRID),
    GridJob(
        base=STUDENT_LANE,
        grid=GridSpec(
            x=Axis(name=AxisName.guidance, values=(1.0, 3.5, 7)),
            y=Axis(name=AxisName.model, values=(TEACHER, STUDENT, FILE, "emoji-student-4step")),
        ),
    ),
    GridJob(base=LANE, grid=GridSpec(x=Axis(name=AxisName.sampler, values=("DDIM", "Euler")))),
    ConvergeJob(
        base=LANE,
        spec=ConvergenceSpec(
            samplers=("DDIM", "Euler"),
            steps=(2, 4),
            prompts=("a", "b"),
            seeds=(1,),
            students=(
                StudentCurve(
                    model=ModelRef.embedded("emoji-shortcut"), sampler="DDIM trailing", guidance=1.5
                ),
            ),
        ),
    ),
]
RNG = np.random.default_rng(7)


def image(height: int = 32, width: int = 48) -> np.ndarray:
    array = RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)
    array.setflags(write=False)
    return array


TIMINGS = Timings(load_s=1.25, encode_s=0.01, step_s=(0.1, 0.2, 0.3), decode_s=0.05, total_s=2.0)
POINT = ConvergencePoint(
    sampler="DDIM", steps=4, nfe=4, network_passes=8, psnr=31.5, agreement=None, wall_s=0.5,
    cases=2, model="emoji-shortcut",
)  # fmt: skip
OPTIONS = EngineOptions(device=Device.cuda, offload=Offload.model, ram_budget_mb=8000, max_models=2)
COMMANDS: list[Command] = [
    *(Submit(job=job) for job in JOBS),
    Cancel(job_id="abc", keep_partial=True),
    LoadModel(ref=STUDENT),
    LoadModel(ref=FILE),
    Configure(options=OPTIONS),
    Shutdown(),
]
EVENTS: list[Event] = [
    JobQueued(job_id="j", position=3),
    JobStarted(job_id="j", lane=Lane.teacher),
    ModelLoaded(job_id="j", lane=Lane.student, model=STUDENT, device="cuda:0", load_s=3.5),
    DownloadProgress(
        job_id="j",
        lane=None,
        model=TEACHER,
        bytes_done=2**40,
        bytes_total=2**41,
        files_done=1,
        files_total=12,
    ),
    StepProgress(job_id="j", lane=Lane.main, step=3, total=20, elapsed_s=0.75),
    PrepareProgress(job_id="j", lane=Lane.main, task="Estimating the Gamma table", done=1, total=9),
    PreviewReady(job_id="j", lane=Lane.teacher, step=2, total=4, x_t=image(), x0=image()),
    PreviewReady(job_id="j", lane=Lane.student, step=1, total=4, x_t=image(1, 1)),
    LaneFinished(
        job_id="j",
        lane=Lane.student,
        images=(image(), image(), image(64, 16)),
        params=PARAMS,
        model=STUDENT,
        timings=TIMINGS,
        steps=4,
        partial=True,
        notice="Classifier guidance was left out.",
    ),
    LaneFinished(
        job_id="j",
        lane=Lane.main,
        images=(),
        params=PARAMS,
        model=TEACHER,
        timings=Timings(),
        steps=0,
    ),
    CompareFinished(job_id="j", speedup=math.inf, psnr=math.inf, ssim=1.0),
    CompareFinished(job_id="j", speedup=2.5, psnr=math.nan, ssim=math.nan, lane=Lane.student),
    JobProgress(job_id="j", done=3, total=12, label="Euler · 8 steps"),
    GridCellFinished(
        job_id="j",
        x=1,
        y=0,
        image=image(),
        label="8 steps",
        timings=Timings(total_s=0.3),
        nfe=8,
        params=PARAMS,
        model=TEACHER,
    ),
    GridCellFinished(
        job_id="j",
        x=0,
        y=1,
        image=None,
        label="2 steps",
        nfe=0,
        params=PARAMS.with_(num_inference_steps=1, sampler="DPM++ 2M"),
        model=STUDENT,
        partial=False,
        error="DPM++ 2M needs at least 2 steps; 1 were asked for.",
        lane=Lane.main,
    ),
    ConvergencePointReady(job_id="j", point=POINT),
    ConvergencePointReady(
        job_id="j", point=dataclasses.replace(POINT, psnr=math.nan, agreement=0.5)
    ),
    JobFinished(job_id="j"),
    JobCancelled(job_id="j", kept_partial=True, lane=Lane.main),
    JobFailed(job_id="j", message="Out of memory.", detail="Traceback (most recent call last):\n"),
    EngineConfigured(summary="cuda, 3 models.", options=OPTIONS),
    EngineStatus(text="Loading emoji-teacher…"),
    EngineStopped(reasons=("closed", "idle")),
    StepProgress(job_id="j", lane=Lane.main, step=2, total=8, elapsed_s=0.5, cell=(2, 1)),
    PreviewReady(job_id="j", lane=Lane.main, step=2, total=8, x_t=image(), cell=(0, 3)),
    GridCellFinished(
        job_id="j",
        x=2,
        y=1,
        image=image(),
        label="DDIM · 8 steps",
        nfe=8,
        params=PARAMS,
        model=TEACHER,
        timings=TIMINGS,
    ),
]
MESSAGES: list[Command | Event] = [*COMMANDS, *EVENTS]


def assert_same(sent: Any, got: Any, path: str = "message") -> None:
    """Equal values of the same types; images byte-identical and read-only; NaN equals NaN."""
    assert type(got) is type(sent) or (type(sent) is int and type(got) is float), path
    if isinstance(sent, np.ndarray):
        assert got.dtype == sent.dtype and got.shape == sent.shape, path
        assert got.tobytes() == sent.tobytes() and not got.flags.writeable, path
    elif dataclasses.is_dataclass(sent):
        for field in dataclasses.fields(sent):
            assert_same(getattr(sent, field.name), getattr(got, field.name), f"{path}.{field.name}")
    elif isinstance(sent, tuple):
        assert len(got) == len(sent), path
        for index, (a, b) in enumerate(zip(sent, got, strict=True)):
            assert_same(a, b, f"{path}[{index}]")
    elif isinstance(sent, float) and math.isnan(sent):
        assert math.isnan(got), path
    else:
        assert got == sent, path


def one_sentence(error: WireError) -> str:
    text = str(error)
    assert text and text.endswith(".") and "\n" not in text and len(text) < 400, text
    return text


def refused(data: bytes) -> str:
    with pytest.raises(WireError) as info:
        decode(data)
    return one_sentence(info.value)


def refused_json(document: Any) -> str:
    with pytest.raises(WireError) as info:
        from_json_dict(json.loads(json.dumps(document)))
    return one_sentence(info.value)


def frame_of(header: bytes, payload: bytes = b"") -> bytes:
    return PREFIX.pack(MAGIC, PROTOCOL_VERSION, 0, len(header), len(payload)) + header + payload


def tree_of(message: Command | Event) -> dict[str, Any]:
    return to_json_dict(message)["message"]


def test_the_examples_cover_every_command_event_and_job() -> None:
    assert {type(m) for m in COMMANDS} == set(get_args(Command))
    assert {type(m) for m in EVENTS} == set(get_args(Event))
    assert {type(j) for j in JOBS} == set(get_args(Job))
    controls = set(CONTROL_TYPES)
    assert set(MESSAGE_TYPES) == set(get_args(Command)) | set(get_args(Event)) | controls


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_a_frame(message: Command | Event) -> None:
    assert_same(message, decode(encode(message)))


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_plain_json(message: Command | Event) -> None:
    text = json.dumps(to_json_dict(message), allow_nan=False)
    assert_same(message, from_json_dict(json.loads(text)))


def test_messages_without_arrays_compare_equal_after_the_round_trip() -> None:
    for message in COMMANDS:
        assert decode(encode(message)) == message


def test_a_student_stays_a_student_and_axis_numbers_keep_their_type() -> None:
    job = decode(encode(COMMANDS[3])).job
    assert isinstance(job.base.model, StudentRef)
    assert job.base.model.adapter == STUDENT.adapter
    assert [type(v) for v in job.grid.x.values] == [float, float, int]
    assert type(job.grid.y.values[1]) is StudentRef and type(job.grid.y.values[2]) is ModelRef


def test_a_frame_carries_images_as_raw_bytes_not_json() -> None:
    event = EVENTS[8]
    frame = encode(event)
    _, version, _, header_size, payload_size = PREFIX.unpack(frame[: PREFIX.size])
    assert version == PROTOCOL_VERSION
    assert payload_size == sum(a.nbytes for a in event.images)
    header = json.loads(frame[PREFIX.size : PREFIX.size + header_size])
    assert header["arrays"][2] == {"dtype": "uint8", "shape": [64, 16, 3]}
    assert header["message"]["images"] == [{"@array": 0}, {"@array": 1}, {"@array": 2}]


def test_a_writable_or_strided_image_is_sent_and_comes_back_read_only() -> None:
    strided = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)[:, ::2]
    got = decode(encode(PreviewReady(job_id="j", lane=Lane.main, step=1, total=1, x_t=strided)))
    assert np.array_equal(got.x_t, strided) and not got.x_t.flags.writeable


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
    ],
)
def test_only_uint8_images_of_height_width_3_are_sent(array: np.ndarray) -> None:
    with pytest.raises(WireError) as info:
        encode(PreviewReady(job_id="j", lane=Lane.main, step=1, total=1, x_t=array))
    assert "PreviewReady.x_t" in one_sentence(info.value)


def test_values_outside_the_registry_are_not_sent() -> None:
    with pytest.raises(WireError):
        encode(Cancel(job_id=object(), keep_partial=False))  # type: ignore[arg-type]
    with pytest.raises(WireError):
        encode(LaneSpec(model=TEACHER, params=PARAMS))  # type: ignore[arg-type]
    with pytest.raises(WireError):
        encode(EngineStatus(text="\ud800"))
    with pytest.raises(WireError):
        encode(JobQueued(job_id="j", position=2**64))
    with pytest.raises(WireError, match="must be a finite number, not nan"):
        encode(StepProgress(job_id="j", lane=Lane.main, step=1, total=2, elapsed_s=math.nan))


def test_unknown_tags_fields_and_wrong_types_are_refused_in_one_sentence() -> None:
    cancel = tree_of(Cancel(job_id="a"))
    document = {"version": PROTOCOL_VERSION, "message": cancel}
    assert "unknown type tag 'Cancelled'" in refused_json(
        {**document, "message": {**cancel, "@type": "Cancelled"}}
    )
    assert "unknown field 'extra'" in refused_json({**document, "message": {**cancel, "extra": 1}})
    missing = {k: v for k, v in cancel.items() if k != "keep_partial"}
    assert "lacks the field 'keep_partial'" in refused_json({**document, "message": missing})
    wrong = {**cancel, "keep_partial": 1}
    assert refused_json({**document, "message": wrong}) == (
        "Cancel.keep_partial must be true or false, not a whole number."
    )
    bare = tree_of(LoadModel(ref=TEACHER))["ref"]
    assert refused_json({**document, "message": bare}) == "A ModelRef is not a command or an event."


def test_a_field_holds_only_its_declared_classes_and_enum_values() -> None:
    load = tree_of(LoadModel(ref=TEACHER))
    job = tree_of(COMMANDS[0])["job"]
    text = refused_json({"version": PROTOCOL_VERSION, "message": {**load, "ref": job}})
    assert text == "LoadModel.ref must be a ModelRef, not a GenerateJob."
    bad_source = {**load, "ref": {**load["ref"], "source": "ftp"}}
    text = refused_json({"version": PROTOCOL_VERSION, "message": bad_source})
    assert text == "LoadModel.ref.source must be one of embedded, folder, hub, file, not 'ftp'."


def test_non_finite_numbers_only_where_the_type_allows_them() -> None:
    step = tree_of(StepProgress(job_id="j", lane=Lane.main, step=1, total=2, elapsed_s=0.1))
    nan = {"@float": "nan"}
    text = refused_json({"version": PROTOCOL_VERSION, "message": {**step, "elapsed_s": nan}})
    assert text == "StepProgress.elapsed_s must be a finite number, not nan."
    header = json.dumps({"message": step, "arrays": []}).encode()
    assert "finite" in refused(frame_of(header.replace(b'"elapsed_s": 0.1', b'"elapsed_s": 1e999')))
    assert "NaN" in refused(frame_of(header.replace(b'"elapsed_s": 0.1', b'"elapsed_s": NaN')))


def test_an_int_where_a_float_is_declared_becomes_a_float() -> None:
    step = tree_of(StepProgress(job_id="j", lane=Lane.main, step=1, total=2, elapsed_s=0.5))
    got = from_json_dict({"version": PROTOCOL_VERSION, "message": {**step, "elapsed_s": 2}})
    assert isinstance(got, StepProgress) and type(got.elapsed_s) is float


def test_the_limits_bound_text_lists_nesting_and_images() -> None:
    small = WireLimits(max_string_chars=10, max_items=2, max_image_side=16, max_depth=4)
    with pytest.raises(WireError, match="11 characters long"):
        from_json_dict(to_json_dict(EngineStatus(text="x" * 11)), small)
    with pytest.raises(WireError, match="3 items"):
        from_json_dict(to_json_dict(EngineStopped(reasons=("a", "b", "c"))), small)
    with pytest.raises(WireError, match="sides of 1 to 16"):
        decode(encode(EVENTS[6]), small)
    with pytest.raises(WireError, match="deeper than 4 levels"):
        decode(encode(COMMANDS[0]), small)
    with pytest.raises(WireError, match="past the limit"):
        decode(encode(EVENTS[8]), WireLimits(max_frame_bytes=1000))


def test_bad_prefixes_are_refused_before_anything_else() -> None:
    frame = encode(JobFinished(job_id="j"))
    _, version, flags, header_size, payload_size = PREFIX.unpack(frame[: PREFIX.size])
    body = frame[PREFIX.size :]

    def framed(magic: bytes = MAGIC, version: int = version, flags: int = flags) -> bytes:
        return PREFIX.pack(magic, version, flags, header_size, payload_size) + body

    assert "magic" in refused(framed(magic=b"PK\x03\x04"))
    other = PROTOCOL_VERSION + 1
    assert refused(framed(version=other)) == (
        f"The frame has protocol version {other}, not {PROTOCOL_VERSION}."
    )
    assert "reserved flags" in refused(framed(flags=1))
    assert "truncated" in refused(frame[:5])
    assert "announces" in refused(frame + b"\x00")
    assert "announces" in refused(frame[:-1])
    huge = PREFIX.pack(MAGIC, version, 0, 2**32 - 1, 0)
    assert "past the limit" in refused(huge)


def test_bad_headers_and_payloads_are_refused() -> None:
    framed = frame_of
    assert refused(framed(b'{"message": "\xc3\x28"}')) == "The frame header is not valid UTF-8."
    assert "not valid JSON" in refused(framed(b"{"))
    assert "nested too deeply" in refused(framed(b"[" * 100_000 + b"]" * 100_000))
    assert "twice" in refused(framed(b'{"message": 1, "message": 2, "arrays": []}'))
    assert "only a message and arrays" in refused(framed(b"[]"))
    tree = json.dumps(tree_of(JobFinished(job_id="j"))).encode()
    with_array = b'{"message": %s, "arrays": [{"dtype": "uint8", "shape": [1, 1, 3]}]}' % tree
    assert "payload ends inside array 0" in refused(framed(with_array))
    assert "no field uses" in refused(framed(with_array, b"abc"))
    assert "past its arrays" in refused(framed(b'{"message": %s, "arrays": []}' % tree, b"x"))


def test_frames_cross_a_byte_stream_back_to_back_then_end_cleanly() -> None:
    stream = io.BytesIO()
    for message in MESSAGES:
        write_frame(stream, message)
    stream.seek(0)
    for message in MESSAGES:
        assert_same(message, read_frame(stream))
    assert read_frame(stream) is None


def test_a_stream_ending_inside_a_frame_is_refused() -> None:
    frame = encode(EVENTS[6])
    for cut in (3, PREFIX.size, len(frame) - 1):
        with pytest.raises(WireError, match="ended inside"):
            read_frame(io.BytesIO(frame[:cut]))


def test_a_lying_length_is_refused_without_reading_the_body() -> None:
    stream = io.BytesIO(PREFIX.pack(MAGIC, PROTOCOL_VERSION, 0, 16, 2**32 - 1) + b"x" * 100)
    with pytest.raises(WireError, match="past the limit"):
        read_frame(stream)
    assert stream.tell() == PREFIX.size


def test_frames_cross_an_unbuffered_pipe() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb", buffering=0) as reader, os.fdopen(write_fd, "wb", 0) as writer:
        write_frame(writer, EVENTS[0])
        write_frame(writer, EVENTS[7])
        writer.close()
        assert_same(EVENTS[0], read_frame(reader))
        assert_same(EVENTS[7], read_frame(reader))
        assert read_frame(reader) is None


def test_frames_cross_a_socket() -> None:
    left, right = socket.socketpair()
    with left, right:
        write_frame(left, EVENTS[6])
        write_frame(left, COMMANDS[2])
        left.shutdown(socket.SHUT_WR)
        assert_same(EVENTS[6], read_frame(right))
        assert_same(COMMANDS[2], read_frame(right))
        assert read_frame(right) is None


def test_the_prefix_layout_is_sixteen_bytes_big_endian() -> None:
    frame = encode(Shutdown())
    assert frame[:4] == MAGIC and PREFIX.size == 16
    assert struct.unpack(">H", frame[4:6]) == (PROTOCOL_VERSION,)


def test_a_document_built_in_memory_with_non_json_values_is_refused() -> None:
    cancel = tree_of(Cancel(job_id="a"))
    for odd in (
        {**cancel, "job_id": ("a",)},
        {**cancel, 1: "x"},
        {**cancel, "job_id": np.int64(3)},
    ):
        with pytest.raises(WireError) as info:
            from_json_dict({"version": PROTOCOL_VERSION, "message": odd})
        one_sentence(info.value)
    with pytest.raises(WireError, match=f"version True is not {PROTOCOL_VERSION}"):
        from_json_dict({"version": True, "message": cancel})


def test_a_grid_cell_on_a_preview_is_two_whole_numbers_and_arrives_as_a_tuple() -> None:
    preview = PreviewReady(job_id="j", lane=Lane.main, step=1, total=2, x_t=image(), cell=(3, 4))
    got = decode(encode(preview))
    assert isinstance(got, PreviewReady) and got.cell == (3, 4) and isinstance(got.cell, tuple)
    step = tree_of(StepProgress(job_id="j", lane=Lane.main, step=1, total=2, elapsed_s=0.1))
    text = refused_json({"version": PROTOCOL_VERSION, "message": {**step, "cell": ["a", 1]}})
    assert text.startswith("StepProgress.cell")
