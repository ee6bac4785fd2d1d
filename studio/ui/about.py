"""Help > About: the version, the licences of Studio and what it is built on, and data credits."""

from __future__ import annotations

import html
import platform
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from studio import __version__

# The libraries whose versions the About box shows (distribution name, shown name).
LIBRARIES = (("torch", "PyTorch"), ("diffusers", "diffusers"), ("transformers", "transformers"))

LICENCES = """
<p>Studio is free software under the Apache License 2.0.</p>
<p>Built on Qt for Python (PySide6, LGPLv3) and Qt (LGPLv3); PyTorch (BSD-3-Clause);
diffusers, transformers, safetensors and peft (Apache-2.0); qasync (BSD-2-Clause); NumPy and
SciPy (BSD-3-Clause); Pillow (MIT-CMU); platformdirs (MIT); torchsde (Apache-2.0).</p>
"""

CREDITS = """
<p><b>Data credits</b> (the embedded emoji model)</p>
<ul>
<li>Trained on renderings of <b>Noto Color Emoji</b>, © Google LLC, under the SIL Open Font
License 1.1 (<a href="https://github.com/googlefonts/noto-emoji">googlefonts/noto-emoji</a>).</li>
<li>Trained on renderings of <b>Twemoji</b>: “Twemoji graphics by Twitter, Inc. and other
contributors, licensed under CC-BY 4.0
(<a href="https://creativecommons.org/licenses/by/4.0/">creativecommons.org/licenses/by/4.0</a>)”;
the images were rendered at 32 × 32 pixels for training
(<a href="https://github.com/twitter/twemoji">twitter/twemoji</a>).</li>
<li>Emoji names and groups from Unicode’s emoji data files (the Unicode License).</li>
<li>Prompts are encoded with <b>all-MiniLM-L6-v2</b> by sentence-transformers, under the Apache
License 2.0.</li>
</ul>
"""


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions_line() -> str:
    """The versions of Python, Qt and the main libraries, for bug reports."""
    parts = [f"Python {platform.python_version()}", f"Qt {qVersion()}", f"PySide6 {pyside_version}"]
    parts += [f"{name} {_version_of(dist)}" for dist, name in LIBRARIES]
    return " · ".join(parts)


def about_html() -> str:
    return (
        f"<h3>Studio {html.escape(__version__)}</h3>"
        "<p>Fast diffusion image generation: a distilled few-step student beside its many-step "
        "teacher, from the same prompt, seed and noise, each image forming live step by step.</p>"
        f"<p><small>{html.escape(versions_line())}</small></p>" + LICENCES + CREDITS
    )


class AboutDialog(QDialog):
    """Shows the About text; links open in the browser, Esc or Enter closes it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Studio")
        self.setObjectName("aboutDialog")
        self.text = QLabel(about_html())
        self.text.setObjectName("aboutText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setOpenExternalLinks(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.text.setMinimumWidth(520)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
