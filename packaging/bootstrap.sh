#!/usr/bin/env bash
# Set up Studio on a fresh Debian/Ubuntu machine that has Python 3.11, then optionally run it or test it.
#
#   bash packaging/bootstrap.sh            install only
#   bash packaging/bootstrap.sh --run ARGS install, then exec `.venv/bin/studio ARGS`
#   bash packaging/bootstrap.sh --test     install, then pytest, import contracts, lint and mypy
#
# Idempotent: a second run skips apt when every package is installed, keeps a working venv, and skips
# the pip installs while pyproject.toml is unchanged (its sha256 is stamped inside the venv).
#
# Environment:
#   STUDIO_VENV    where the virtual environment lives (default: .venv in the repository root)
#   STUDIO_PYTHON  the Python 3.11 interpreter that creates it (default: python3.11)
set -euo pipefail

CALLER_PWD="$PWD"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${STUDIO_VENV:-.venv}"
[[ "$VENV" == /* ]] || VENV="$ROOT/$VENV"
PYTHON_BIN="${STUDIO_PYTHON:-python3.11}"
STAMP="$VENV/.studio-bootstrap.sha256"
# The exact CPU torch that these development and CI machines serve from pip's local find-links.
LOCAL_TORCH_VERSION="2.13.0"

# Qt offscreen; Qt in a real window (X11/Xvfb); the emoji dataset sources; Xvfb for tests and screenshots;
# the validators of the desktop entry and AppStream metainfo (tests/packaging skips without them).
APT_PACKAGES=(
  libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-shape0
  fonts-noto-color-emoji unicode-data
  xvfb xauth
  desktop-file-utils appstream
)

BOLD="" RED="" RESET=""
PIP_QUIET_BAR=(--progress-bar off) # logs (CI) get no progress bars
if [[ -t 1 ]]; then
  BOLD=$'\033[1m' RED=$'\033[1;31m' RESET=$'\033[0m'
  PIP_QUIET_BAR=()
fi
phase() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf '\n%sbootstrap: ERROR: %s%s\n' "$RED" "$*" "$RESET" >&2
  exit 1
}

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# --- 1. System packages -----------------------------------------------------------------------
package_installed() {
  # Ubuntu 24.04 renamed some libraries with a t64 suffix (libglib2.0-0 -> libglib2.0-0t64).
  local name
  for name in "$1" "${1}t64"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null || true)" == installed ]]; then
      return 0
    fi
  done
  return 1
}

install_system_packages() {
  phase "System packages (apt)"
  local wanted=("${APT_PACKAGES[@]}")
  # Debian's own python3.11 creates venvs only with python3.11-venv (ensurepip) installed.
  if command -v "$PYTHON_BIN" >/dev/null 2>&1 && ! "$PYTHON_BIN" -c 'import ensurepip' >/dev/null 2>&1; then
    wanted+=(python3.11-venv)
  fi

  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    info "apt-get/dpkg not found: this is not a Debian/Ubuntu system, so nothing is installed here."
    info "Install the equivalents of these Debian packages with your system's package manager:"
    info "  ${wanted[*]}"
    info "Continuing; Qt will fail to start if its libraries are missing."
    return 0
  fi

  local missing=() pkg
  for pkg in "${wanted[@]}"; do
    package_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    info "all ${#wanted[@]} packages already installed: skipping apt"
    return 0
  fi

  info "missing: ${missing[*]}"
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 ||
      die "not root and sudo is missing: as root run: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# --- 2. Virtual environment -------------------------------------------------------------------
venv_works() {
  [[ -x "$VENV/bin/python" ]] &&
    "$VENV/bin/python" -c 'import sys, pip; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1
}

create_venv() {
  phase "Virtual environment ($VENV)"
  if venv_works; then
    info "exists and works: $("$VENV/bin/python" --version)"
    return 0
  fi
  command -v "$PYTHON_BIN" >/dev/null 2>&1 ||
    die "$PYTHON_BIN not found. Studio needs Python 3.11 (the local torch wheel is cp311): install it (Debian 12: apt-get install python3.11 python3.11-venv) or set STUDIO_PYTHON=/path/to/python3.11"
  "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    die "$PYTHON_BIN is $("$PYTHON_BIN" --version 2>&1), not Python 3.11"
  if [[ -e "$VENV" ]]; then
    [[ -f "$VENV/pyvenv.cfg" ]] ||
      die "$VENV exists but is not a virtual environment: move it away or set STUDIO_VENV"
    info "$VENV exists but does not work: recreating it"
    "$PYTHON_BIN" -m venv --clear "$VENV"
  else
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  venv_works || die "the new virtual environment at $VENV does not work"
  info "created with $("$VENV/bin/python" --version)"
}

# --- 3. torch -------------------------------------------------------------------------------
installed_version() {
  "$VENV/bin/python" - "$1" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    sys.exit(1)
EOF
}

# Prints the exact version (e.g. 2.13.0+cpu) of the torch wheel in pip's local find-links, if any.
local_torch_version() {
  "$VENV/bin/python" -m pip install --dry-run --ignore-installed --no-deps --no-index --quiet \
    --report - "torch==$LOCAL_TORCH_VERSION" 2>/dev/null |
    "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["install"][0]["metadata"]["version"])' \
      2>/dev/null
}

install_torch() {
  phase "torch"
  local have
  if have="$(installed_version torch)"; then
    info "already installed: torch $have"
    return 0
  fi
  local pip=("$VENV/bin/python" -m pip install "${PIP_QUIET_BAR[@]}")
  local local_version
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    info "NVIDIA GPU found: installing the registry's CUDA build of torch"
    "${pip[@]}" "torch>=2.4"
  elif local_version="$(local_torch_version)" && [[ -n "$local_version" ]]; then
    info "no NVIDIA GPU; installing the local CPU wheel torch==$local_version from pip's find-links"
    "${pip[@]}" "torch==$local_version"
  else
    # For users' machines without an NVIDIA GPU: the CPU-only build from PyTorch's own index. (The
    # registry's unpinned torch would pull gigabytes of CUDA packages.) Development and CI machines
    # take the branch above, the local wheel.
    info "no NVIDIA GPU and no local wheel: installing the CPU-only torch from PyTorch's CPU index"
    "${pip[@]}" torch --index-url https://download.pytorch.org/whl/cpu
  fi
  have="$(installed_version torch)" || die "torch did not install"
  info "installed: torch $have"
}

# --- 4. The project ---------------------------------------------------------------------------
install_project() {
  phase "Studio (editable, with the test and data extras)"
  local digest
  digest="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$digest" ]] && installed_version studio >/dev/null; then
    info "up to date (pyproject.toml unchanged since the last install)"
    return 0
  fi
  # Hold torch at the build installed above, so resolving the project's `torch>=2.4` can never swap
  # it for another one (on a machine without CUDA that would be gigabytes of CUDA packages).
  local constraints
  constraints="$(mktemp)"
  echo "torch==$(installed_version torch)" >"$constraints"
  if ! "$VENV/bin/python" -m pip install "${PIP_QUIET_BAR[@]}" -c "$constraints" -e ".[test,data]"; then
    rm -f "$constraints"
    die "pip install -e \".[test,data]\" failed"
  fi
  rm -f "$constraints"
  echo "$digest" >"$STAMP"
  info "installed studio $(installed_version studio)"
}

# --- 5. Tests ---------------------------------------------------------------------------------
run_tests() {
  local failed=() rc
  phase "Tests: pytest"
  rc=0
  QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -m pytest || rc=$?
  if ((rc == 5)); then
    printf '%spytest collected no tests (exit 5): that counts as a failure%s\n' "$RED" "$RESET" >&2
    failed+=("pytest (no tests collected)")
  elif ((rc != 0)); then
    failed+=("pytest (exit $rc)")
  fi

  phase "Import contracts: lint-imports"
  "$VENV/bin/lint-imports" || failed+=("lint-imports")

  phase "Lint: ruff check"
  "$VENV/bin/ruff" check studio tests benchmarks || failed+=("ruff check")

  phase "Format: ruff format --check"
  "$VENV/bin/ruff" format --check studio tests benchmarks || failed+=("ruff format --check")

  phase "Types: mypy"
  "$VENV/bin/mypy" || failed+=("mypy")

  if ((${#failed[@]})); then
    die "failed: ${failed[*]}"
  fi
  phase "All checks passed"
}

main() {
  local mode="install"
  case "${1:-}" in
    --run) mode="run"; shift ;;
    --test) mode="test"; shift ;;
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  if [[ "$mode" != run && $# -gt 0 ]]; then
    die "unexpected arguments: $* (only --run passes arguments on, to studio)"
  fi

  install_system_packages
  create_venv
  install_torch
  install_project

  case "$mode" in
    install) phase "Done: run the studio with $VENV/bin/studio, or: bash packaging/bootstrap.sh --run" ;;
    run)
      phase "Starting: studio $*"
      cd "$CALLER_PWD" # so that relative paths in the arguments mean what the caller meant
      exec "$VENV/bin/studio" "$@"
      ;;
    test) run_tests ;;
  esac
}

main "$@"
