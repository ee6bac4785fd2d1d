"""A PNG opened with File › Open image or dropped on the window, shown in the Compare panes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QTabWidget

from studio.core.metadata import MetadataError, ParsedParameters
from studio.core.pngio import read_image
from studio.ui.preview_area import PaneOverride, PreviewArea

STRIP_NOTE = "opened image: no steps kept"


def opened_caption(path: Path, parsed: ParsedParameters) -> str:
    """E.g. "Opened · studio-0003.png · 25 steps · DDIM · CFG 5"."""
    params = parsed.params
    return (
        f"Opened · {path.name} · {params.num_inference_steps} steps · {params.sampler}"
        f" · CFG {params.guidance_scale:g}"
    )


def opened_override(path: Path, parsed: ParsedParameters) -> PaneOverride:
    """The opened image alone in the first pane; the reason in it when it cannot be read."""
    try:
        image, problem = read_image(path), ""
    except MetadataError as exc:
        image, problem = None, str(exc)
    return PaneOverride(
        left=(image, opened_caption(path, parsed)),
        right=(None, ""),
        summary=f"Opened {path.name}: its parameters are restored",
        names=("Opened", "Other"),
        placeholders=(problem, ""),
        single=True,
        strip_note=STRIP_NOTE,
    )


def show_opened(
    preview: PreviewArea, tabs: QTabWidget, path: Path, parsed: ParsedParameters
) -> bool:
    """Show the opened image in the Compare tab, unless a generation holds the panes."""
    if preview.session.generating:
        return False
    preview.show_override(opened_override(path, parsed))
    tabs.setCurrentWidget(preview)
    return True
