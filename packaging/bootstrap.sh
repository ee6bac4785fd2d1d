#!/usr/bin/env bash
# Set up Studio on a fresh Debian/Ubuntu machine that has Python 3.11, then optionally run it or test it.
#
#   bash packaging/bootstrap.sh            install only
#   bash packaging/bootstrap.sh --run ARGS install, then exec `.venv/bin/studio ARGS`
#   bash packaging/bootstrap.sh --test     install (with the cluster extra), then pytest (in a
#                                          private network namespace where it can), import
#                                          contracts, lint and mypy
#   bash packaging/bootstrap.sh --cluster  install with the cluster extra (Ray), for `studio serve`
#
# Installs exactly the lock of tested versions in packaging/locks/ (hashes checked; the CUDA torch
# where nvidia-smi sees a GPU, the CPU one elsewhere), then the project itself without dependencies.
# Idempotent: a second run skips apt when every package is installed, keeps a working venv, and skips
# the pip installs while the lock and pyproject.toml are unchanged (a sha256 stamped in the venv).
#
# Environment:
#   STUDIO_VENV    where the virtual environment lives (default: .venv in the repository root)
#   STUDIO_PYTHON  the Python 3.11 interpreter that creates it (default: python3.11)
#   STUDIO_LOCK    another lock file to install (default: packaging/locks/ for this machine)
#   STUDIO_CLUSTER_LOCK  the cluster extra's overlay lock (default: packaging/locks/cluster-overlay.txt)
set -euo pipefail

CALLER_PWD="$PWD"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${STUDIO_VENV:-.venv}"
[[ "$VENV" == /* ]] || VENV="$ROOT/$VENV"
PYTHON_BIN="${STUDIO_PYTHON:-python3.11}"
STAMP="$VENV/.studio-bootstrap.sha256"

# Qt offscreen; Qt in a real window (X11/Xvfb); the emoji dataset sources; Xvfb for tests and screenshots;
# the validators of the desktop entry and AppStream metainfo (tests/packaging skips without them);
# `ip`, which brings up the loopback of the test run's private network namespace (Ray's tests).
APT_PACKAGES=(
  libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-shape0
  fonts-noto-color-emoji unicode-data
  xvfb xauth
  iproute2
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
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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

# --- 3. The locked dependencies and the project ---------------------------------------------
# Everything the project installs is a lock of tested versions with hashes (packaging/locks/, made
# on purpose by packaging/relock.sh, never by drift): the CUDA build of torch where nvidia-smi sees
# a GPU, the CPU build elsewhere. STUDIO_LOCK names another lock file (relock.sh tests a new one).
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

has_nvidia_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1
}

choose_lock() {
  if [[ -n "${STUDIO_LOCK:-}" ]]; then
    [[ "$STUDIO_LOCK" == /* ]] && LOCK="$STUDIO_LOCK" || LOCK="$CALLER_PWD/$STUDIO_LOCK"
  elif has_nvidia_gpu; then
    LOCK="$ROOT/packaging/locks/linux-x86_64-py311-cuda.txt"
  else
    LOCK="$ROOT/packaging/locks/linux-x86_64-py311-cpu.txt"
  fi
  [[ -f "$LOCK" ]] || die "lock file not found: $LOCK"
  LOCKS=("$LOCK")
  if ((WITH_CLUSTER)); then
    local overlay="${STUDIO_CLUSTER_LOCK:-$ROOT/packaging/locks/cluster-overlay.txt}"
    [[ "$overlay" == /* ]] || overlay="$CALLER_PWD/$overlay"
    [[ -f "$overlay" ]] || die "the cluster overlay lock is not found: $overlay"
    LOCKS+=("$overlay")
  fi
}

# Where pip finds a +cpu torch: pip's own find-links when they hold the pinned wheel (these
# development and CI machines), otherwise PyTorch's CPU index (a user's machine without a GPU).
torch_source() {
  local pinned
  pinned="$(sed -n 's/^torch==\([^ ]*\).*/\1/p' "$LOCK")"
  [[ "$pinned" == *+cpu ]] || return 0
  if ! "$VENV/bin/python" -m pip install --dry-run --ignore-installed --no-deps --no-index --quiet \
    "torch==$pinned" >/dev/null 2>&1; then
    info "the pinned torch $pinned is not in pip's find-links: using PyTorch's CPU index"
    TORCH_INDEX=(--extra-index-url https://download.pytorch.org/whl/cpu)
  fi
}

install_locked() {
  choose_lock
  phase "Locked dependencies (${LOCK#"$ROOT/"})"
  local digest
  digest="$(cat "${LOCKS[@]}" pyproject.toml setup.py | sha256sum | cut -d' ' -f1)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$digest" ]] && installed_version studio >/dev/null; then
    info "up to date (the lock and pyproject.toml unchanged since the last install)"
    return 0
  fi
  TORCH_INDEX=()
  torch_source
  # --no-deps: the lock is the whole closure, so pip installs exactly it and resolves nothing.
  "$VENV/bin/python" -m pip install "${PIP_QUIET_BAR[@]}" --require-hashes --no-deps \
    "${TORCH_INDEX[@]}" -r "$LOCK" || die "installing the lock $LOCK failed"
  if ((${#LOCKS[@]} > 1)); then
    phase "The cluster extra (${LOCKS[1]#"$ROOT/"}: Ray, added to the lock, changing none of it)"
    "$VENV/bin/python" -m pip install "${PIP_QUIET_BAR[@]}" --require-hashes --no-deps \
      -r "${LOCKS[1]}" || die "installing the overlay lock ${LOCKS[1]} failed"
  fi
  phase "Studio (editable)"
  "$VENV/bin/python" -m pip install "${PIP_QUIET_BAR[@]}" --no-deps --no-build-isolation -e . ||
    die "pip install -e . failed"
  "$VENV/bin/python" "$ROOT/packaging/lock_check.py" "${LOCKS[@]}" ||
    die "the environment does not match the lock $LOCK"
  "$VENV/bin/python" -m pip check || die "pip check found broken requirements"
  echo "$digest" >"$STAMP"
  info "installed studio $(installed_version studio), torch $(installed_version torch)"
}

# --- 5. Tests ---------------------------------------------------------------------------------
run_tests() {
  local failed=() rc
  phase "Tests: pytest"
  rc=0
  local netns=()
  if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
    unshare -n true 2>/dev/null; then
    # Ray's tests start real clusters: in a namespace of their own, all of it stays on loopback.
    netns=(unshare -n bash -c 'ip link set lo up && exec "$@"' private-network)
    info "pytest runs in a private network namespace (loopback only)"
  else
    info "no private network namespace here (unshare -n needs root): the Ray tests skip"
  fi
  QT_QPA_PLATFORM=offscreen STUDIO_LOCK="$LOCK" STUDIO_CLUSTER_LOCK="${LOCKS[1]:-}" \
    "${netns[@]}" "$VENV/bin/python" -m pytest || rc=$?
  if ((rc == 5)); then
    printf '%spytest collected no tests (exit 5): that counts as a failure%s\n' "$RED" "$RESET" >&2
    failed+=("pytest (no tests collected)")
  elif ((rc != 0)); then
    failed+=("pytest (exit $rc)")
  fi

  phase "Import contracts: lint-imports"
  "$VENV/bin/lint-imports" || failed+=("lint-imports")

  phase "Lint: ruff check"
  "$VENV/bin/ruff" check studio tests benchmarks packaging || failed+=("ruff check")

  phase "Format: ruff format --check"
  "$VENV/bin/ruff" format --check studio tests benchmarks packaging || failed+=("ruff format --check")

  phase "Types: mypy"
  "$VENV/bin/mypy" || failed+=("mypy")

  if ((${#failed[@]})); then
    die "failed: ${failed[*]}"
  fi
  phase "All checks passed"
}

main() {
  local mode="install"
  WITH_CLUSTER=0
  case "${1:-}" in
    --run) mode="run"; shift ;;
    --test) mode="test"; WITH_CLUSTER=1; shift ;;
    --cluster) WITH_CLUSTER=1; shift ;;
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  if [[ "$mode" != run && $# -gt 0 ]]; then
    die "unexpected arguments: $* (only --run passes arguments on, to studio)"
  fi

  install_system_packages
  create_venv
  install_locked

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
