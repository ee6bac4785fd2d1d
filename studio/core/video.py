"""MP4 video of an animation's frames: H.264 (libx264) in yuv420p, written with PyAV, whose
wheels bundle FFmpeg and libx264, so no system codec is needed. PyAV is imported only when an
MP4 is encoded.

Each frame keeps its own duration (variable frame rate): its presentation time is its start
in milliseconds (time base 1/1000) and its packet lasts its duration, the last frame included.
No B-frames, so decode order is display order and the durations stay exact. yuv420p needs
even sides: an odd width or height is padded by one column or row of `fill` on the right or
bottom. An MP4 has no loop flag: it plays once unless the player repeats it.

The desktop bundle leaves PyAV out (its FFmpeg carries GPL-licensed x264 and x265), so MP4 is
offered only where `video_available()`; `why_no_video()` says why not, in one sentence.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Final

from PIL import Image

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.packet import Packet
    from av.video.stream import VideoStream

TIME_BASE = Fraction(1, 1000)
CODEC: Final = "libx264"
ENCODER_OPTIONS = {"crf": "18", "preset": "medium", "tune": "animation", "bf": "0"}
BT709 = 1  # AVCOL_PRI_BT709 = AVCOL_TRC_BT709 = AVCOL_SPC_BT709
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
FASTSTART = {"movflags": "faststart"}
LEFT_OUT_OF_THE_BUNDLE = (
    "MP4 needs PyAV, which the desktop bundle leaves out because its FFmpeg carries GPL-licensed "
    "x264 and x265: save as .webp or .gif, or install Studio with pip to write MP4"
)
NOT_INSTALLED = (
    "MP4 needs PyAV (the `av` package), which is not installed: save as .webp or .gif, or "
    "`pip install av`"
)


def video_available() -> bool:
    """Whether PyAV can be imported (looked up, not imported)."""
    return importlib.util.find_spec("av") is not None


def why_no_video() -> str:
    """Why MP4 cannot be written here: the bundle's licence choice, or a missing install."""
    return LEFT_OUT_OF_THE_BUNDLE if getattr(sys, "frozen", False) else NOT_INSTALLED


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """`size` rounded up to even sides."""
    width, height = size
    return width + width % 2, height + height % 2


def padded(image: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """`image` (RGB) on a `fill` canvas of even sides, at its top left; itself when already
    even."""
    size = even_size(image.size)
    if size == image.size:
        return image
    canvas = Image.new("RGB", size, fill)
    canvas.paste(image, (0, 0))
    return canvas


def frame_starts(durations_ms: Sequence[int]) -> list[int]:
    """Each frame's presentation time in milliseconds: the sum of the durations before it."""
    starts, at = [], 0
    for duration in durations_ms:
        starts.append(at)
        at += duration
    return starts


def encode_mp4(
    images: Sequence[Image.Image],
    durations_ms: Sequence[int],
    fill: tuple[int, int, int] = (0, 0, 0),
) -> bytes:
    """The frames as one H.264 MP4 (see the module's notes); every image has the first's size.
    ValueError when there are no frames, the counts differ or a duration is not positive, or
    PyAV is missing; OSError when FFmpeg fails."""
    if not images or len(images) != len(durations_ms) or min(durations_ms) <= 0:
        raise ValueError("an MP4 needs a positive duration for each of at least one frame")
    av = _pyav()
    with tempfile.TemporaryDirectory(prefix="studio-mp4-") as folder:
        scratch = Path(folder) / "video.mp4"
        try:
            _write_mp4(av, scratch, images, durations_ms, fill)
        except av.FFmpegError as exc:
            raise OSError(f"FFmpeg could not write the MP4: {exc}") from exc
        return scratch.read_bytes()


def _pyav() -> ModuleType:
    """The `av` module; ValueError saying why when it cannot be imported."""
    try:
        import av
    except ImportError as exc:
        raise ValueError(why_no_video()) from exc
    return av


def _write_mp4(
    av: ModuleType,
    path: Path,
    images: Sequence[Image.Image],
    durations_ms: Sequence[int],
    fill: tuple[int, int, int],
) -> None:
    """Encode the frames into the MP4 file at `path` (a real file: FFmpeg's faststart, the
    index moved to the front so that playback can start before the whole file is read,
    reopens it by name)."""
    with av.open(str(path), mode="w", format="mp4", options=FASTSTART) as container:
        stream = _video_stream(container, even_size(images[0].size))
        starts = frame_starts(durations_ms)
        lasting = dict(zip(starts, durations_ms, strict=True))
        for image, start in zip(images, starts, strict=True):
            frame = av.VideoFrame.from_image(padded(image.convert("RGB"), fill))
            frame = frame.reformat(format="yuv420p", dst_colorspace="itu709")
            frame.pts, frame.time_base = start, TIME_BASE
            _mux(container, stream.encode(frame), lasting)
        _mux(container, stream.encode(None), lasting)


def _video_stream(container: OutputContainer, size: tuple[int, int]) -> VideoStream:
    """An H.264 stream of `size` in yuv420p, BT.709 limited range, on a millisecond clock."""
    stream = container.add_stream(CODEC, options=dict(ENCODER_OPTIONS))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.time_base = TIME_BASE
    context = stream.codec_context
    context.time_base = TIME_BASE
    context.color_primaries = context.color_trc = context.colorspace = BT709
    context.color_range = LIMITED_RANGE
    return stream


def _mux(container: OutputContainer, packets: Iterable[Packet], lasting: dict[int, int]) -> None:
    """Mux the encoder's packets, each lasting its frame's duration (the encoder leaves it
    unset, which would cut the last frame short)."""
    for packet in packets:
        if packet.pts is not None:
            packet.duration = lasting[packet.pts]
        container.mux(packet)
