"""Render the hand-written SVG icon to the PNG sizes the desktop needs, with Qt's SVG renderer.

Run from the repository root: `python packaging/render_icon.py [--sizes 256 ...]`. The PNGs are
written beside the SVG as `<app id>-<size>.png` (atomically), so they are always made from it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.core.atomic import atomic_write_bytes  # noqa: E402
from studio.desktop import APP_ID  # noqa: E402

ICONS = ROOT / "packaging" / "linux" / "icons"


def render(svg: Path, size: int) -> bytes:
    """The SVG drawn on a transparent `size` x `size` image, as PNG bytes."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icon: {svg} is not an SVG that Qt can draw; fix its markup.")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256])
    args = parser.parse_args()
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    svg = ICONS / f"{APP_ID}.svg"
    for size in args.sizes:
        out = atomic_write_bytes(ICONS / f"{APP_ID}-{size}.png", render(svg, size))
        print(f"wrote {out.relative_to(ROOT)}")
    del app


if __name__ == "__main__":
    main()
