"""The MP4 encoder: even sides by padding, exact frame times, and PyAV imported only to encode."""

from __future__ import annotations

import io
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from studio.core import video
from studio.core.video import encode_mp4, even_size, frame_starts, padded

WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def decoded(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_odd_sides_are_padded_on_the_right_and_bottom_with_the_fill() -> None:
    assert even_size((65, 47)) == (66, 48) and even_size((64, 48)) == (64, 48)
    image = Image.new("RGB", (65, 47), WHITE)
    assert padded(image, BLACK).getpixel((65, 47)) == BLACK
    assert padded(image, BLACK).getpixel((64, 46)) == WHITE
    (frame,) = decoded(encode_mp4([image], [500], fill=BLACK))
    assert frame.shape == (48, 66, 3)
    assert frame[20:30, 60].min() > 200  # the picture, up to its last column
    assert frame[20:30, 65].max() < 128 and frame[47, 20:30].max() < 128  # the padding


def test_frames_start_where_the_durations_before_them_end() -> None:
    assert frame_starts([80, 240, 1500]) == [0, 80, 320]


@pytest.mark.parametrize(("count", "durations"), [(0, []), (2, [80]), (2, [80, 0])])
def test_each_frame_needs_a_positive_duration(count, durations) -> None:
    with pytest.raises(ValueError, match="positive duration"):
        encode_mp4([Image.new("RGB", (16, 16))] * count, durations)


def test_importing_the_animation_module_and_asking_for_mp4_do_not_import_pyav() -> None:
    code = (
        "import sys, studio.core.animation as a; "
        "print(a.writable_suffixes()[-1], 'av' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.stdout.strip() == ".mp4 False", found.stderr


def test_encoding_without_pyav_says_why(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ValueError, match=r"^MP4 needs PyAV .* `pip install av`$"):
        encode_mp4([Image.new("RGB", (16, 16))], [80])


def test_an_ffmpeg_failure_is_an_oserror(monkeypatch) -> None:
    def failing(*args) -> None:
        raise av.FFmpegError(-22, "Invalid argument")

    monkeypatch.setattr(video, "_mux", failing)
    with pytest.raises(OSError, match=r"FFmpeg could not write the MP4: .*Invalid argument"):
        encode_mp4([Image.new("RGB", (16, 16))], [80])
