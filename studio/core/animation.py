"""Animated comparisons: reels played side by side on one time axis, captioned, written as an
animated WebP or GIF (Pillow) or an MP4 video (H.264 with PyAV, see `studio.core.video`; an MP4
does not loop; only where PyAV can be imported, which the desktop bundle leaves out).

Timing rule: the lanes' real times are scaled so the slowest pane's run plays in
`duration_s` seconds (4 s by default; `duration_s=0` plays real time), sampled every
`frame_s` (80 ms, 12.5 frames a second); consecutive samples that show the same shots merge
into one frame that lasts as long as they did, and the end (every pane on its final image) is
held `hold_s` (1.5 s) before the loop restarts. The speed ratio between panes is kept to within
one sample; each caption gives the real elapsed time of the image it shows on its lane's clock.
"""

from __future__ import annotations

import io
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from studio.core import video
from studio.core.atomic import atomic_write
from studio.core.reels import Reel, Shot

FORMATS = {".webp": "WEBP", ".gif": "GIF", ".mp4": "MP4"}
PANE_SIDE = 256
GAP = 8
FONT_SIZE = 14
LINE_GAP = 3
PADDING = 6
BACKGROUND = (24, 24, 28)
EMPTY_PANE = (56, 56, 62)
TEXT = (236, 236, 236)
DIM_TEXT = (170, 170, 178)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """How real time maps to playback (see the module's timing rule)."""

    duration_s: float = 4.0
    frame_s: float = 0.08
    hold_s: float = 1.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """Which shot each pane shows (-1: none yet) and for how many milliseconds."""

    shots: tuple[int, ...]
    duration_ms: int


def timeline(reels: Sequence[Reel], timing: Timing = Timing()) -> list[Frame]:
    """The frames of the animation, in order (see the module's timing rule)."""
    end = max((reel.end_s for reel in reels), default=0.0)
    scale = timing.duration_s / end if timing.duration_s > 0 and end > 0 else 1.0
    play_end = end * scale
    ticks = max(1, math.ceil(play_end / timing.frame_s - 1e-9))
    frame_ms = round(timing.frame_s * 1000)
    hold_ms = max(frame_ms, round(timing.hold_s * 1000))
    frames: list[Frame] = []
    for tick in range(ticks + 1):
        real = end if tick == ticks else tick * timing.frame_s / scale
        shots = tuple(_shown(reel, real) for reel in reels)
        lasts = hold_ms if tick == ticks else frame_ms
        if frames and frames[-1].shots == shots:
            frames[-1] = Frame(shots=shots, duration_ms=frames[-1].duration_ms + lasts)
        else:
            frames.append(Frame(shots=shots, duration_ms=lasts))
    return frames


def _shown(reel: Reel, real_s: float) -> int:
    """The index of the newest shot that appeared by `real_s` (-1 when none has)."""
    return bisect_right([shot.at_s for shot in reel.shots], real_s + 1e-9) - 1


def seconds_text(seconds: float) -> str:
    """'0.42 s' under ten seconds, '12.3 s' from ten."""
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def caption_lines(reel: Reel, shot: Shot | None) -> tuple[str, str, str]:
    """A pane's caption: 'Teacher: emoji-teacher', the sampler, and 'step k/N · 0.42 s'
    ('done' added on the final image; step 0 before the first shot)."""
    first = f"{reel.role}: {reel.model}" if reel.role else reel.model
    if shot is None:
        return first, reel.sampler, f"step 0/{reel.total} · {seconds_text(0.0)}"
    progress = f"step {shot.step}/{reel.total} · {seconds_text(shot.at_s)}"
    return first, reel.sampler, progress + (" · done" if shot.final else "")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError, TypeError):
        return ImageFont.load_default()


def _fitted(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """`text`, cut with an ellipsis to fit `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def pane_size(reels: Sequence[Reel], side: int = PANE_SIDE) -> tuple[int, int]:
    """Each pane's width and height: `side` on the long side of the first reel's last image."""
    image = next((r.shots[-1].image for r in reels if r.shots), None)
    if image is None:
        return side, side
    height, width = image.shape[:2]
    scale = side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _pane_image(shot: Shot | None, size: tuple[int, int]) -> Image.Image:
    """The shot's image fitted into `size` (nearest-neighbour when enlarged, so the pixels
    stay crisp), centred on the empty-pane colour."""
    pane = Image.new("RGB", size, EMPTY_PANE)
    if shot is None:
        return pane
    source = Image.fromarray(shot.image[:, :, :3])
    scale = min(size[0] / source.width, size[1] / source.height)
    fitted = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
    method = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    image = source.resize(fitted, method)
    pane.paste(image, ((size[0] - fitted[0]) // 2, (size[1] - fitted[1]) // 2))
    return pane


def render(reels: Sequence[Reel], frame: Frame, side: int = PANE_SIDE) -> Image.Image:
    """One frame: the panes side by side, each with its three caption lines under it."""
    width, height = pane_size(reels, side)
    font = _font(FONT_SIZE)
    line_h = FONT_SIZE + LINE_GAP
    band = PADDING + 3 * line_h + PADDING
    canvas = Image.new(
        "RGB", (len(reels) * width + (len(reels) + 1) * GAP, GAP + height + band), BACKGROUND
    )
    draw = ImageDraw.Draw(canvas)
    for column, (reel, index) in enumerate(zip(reels, frame.shots, strict=True)):
        shot = reel.shots[index] if index >= 0 else None
        left = GAP + column * (width + GAP)
        canvas.paste(_pane_image(shot, (width, height)), (left, GAP))
        for row, text in enumerate(caption_lines(reel, shot)):
            colour = DIM_TEXT if row == 1 else TEXT
            top = GAP + height + PADDING + row * line_h
            draw.text((left, top), _fitted(draw, text, font, width), fill=colour, font=font)
    return canvas


def writable_suffixes() -> list[str]:
    """The suffixes an animation can be written as here: .mp4 only where PyAV can be imported."""
    return [suffix for suffix, fmt in FORMATS.items() if fmt != "MP4" or video.video_available()]


def animation_format(path: Path) -> str:
    """The format name (Pillow's, or "MP4") for `path`'s suffix; ValueError for any other
    suffix, or for .mp4 where PyAV cannot be imported."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        *others, last = writable_suffixes()
        wanted = f"{', '.join(others)} or {last}"
        raise ValueError(f"an animation's name must end in {wanted}, not {path.name!r}")
    if found == "MP4" and not video.video_available():
        raise ValueError(video.why_no_video())
    return found


def encode(images: Sequence[Image.Image], durations_ms: Sequence[int], fmt: str) -> bytes:
    """The frames as one looping animated WebP (quality 90) or GIF, or an MP4 (which plays
    once: MP4 has no loop)."""
    if fmt == "MP4":
        return video.encode_mp4(images, durations_ms, fill=BACKGROUND)
    out = io.BytesIO()
    first, rest = images[0], list(images[1:])
    options: dict[str, object] = {"quality": 90, "method": 4} if fmt == "WEBP" else {}
    first.save(
        out,
        format=fmt,
        save_all=True,
        append_images=rest,
        duration=list(durations_ms),
        loop=0,
        **options,
    )
    return out.getvalue()


def write_animation(
    path: Path, reels: Sequence[Reel], timing: Timing = Timing(), side: int = PANE_SIDE
) -> Path:
    """Render the reels' animation and write it at `path` atomically; the suffix (.webp, .gif
    or .mp4) picks the format. ValueError for another suffix or no reels, OSError when the
    file cannot be written."""
    fmt = animation_format(path)
    if not reels or not any(reel.shots for reel in reels):
        raise ValueError("there are no kept previews to animate")
    frames = timeline(reels, timing)
    images = [render(reels, frame, side) for frame in frames]
    data = encode(images, [frame.duration_ms for frame in frames], fmt)
    return atomic_write(path, lambda handle: handle.write(data))
