#!/usr/bin/env bash
# Re-resolve the locks in packaging/locks/ on purpose, prove the new set, and record what changed.
#
#   bash packaging/relock.sh                    re-resolve keeping every pin that still fits
#                                               pyproject.toml (adds or drops only what it changed)
#   bash packaging/relock.sh --upgrade          take the newest versions pyproject.toml allows
#   bash packaging/relock.sh --upgrade-package NAME [--upgrade-package NAME ...]
#   bash packaging/relock.sh --no-verify ...    only resolve (the locks are then NOT replaced)
#
# Resolves with uv (pinned below, installed into build/relock/uv) for Linux x86_64, glibc >= 2.34,
# Python 3.11, with hashes: the CPU lock with torch $TORCH_VERSION+cpu, the CUDA lock with the
# registry's torch $TORCH_VERSION and every other pin copied from the CPU lock. Then, unless
# --no-verify, installs the new CPU lock into a fresh venv (build/relock/venv) with the bootstrap,
# runs the whole test command, builds the desktop bundle and runs its smoke test. Only when all of
# that passes are the locks replaced and an entry (versions changed, results, times) added to
# packaging/locks/CHANGES.md. The CUDA lock is resolved and checked for consistency, not installed
# (no GPU here).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV_VERSION="0.13.9"
TORCH_VERSION="2.13.0"
PLATFORM="x86_64-manylinux_2_34"
LOCKS="$ROOT/packaging/locks"
WORK="build/relock" # relative, so that the locks' "via" notes name no machine's paths
CPU_LOCK="linux-x86_64-py311-cpu.txt"
CUDA_LOCK="linux-x86_64-py311-cuda.txt"
EXTRAS=(--extra test --extra data --extra bench --extra bundle)

ARGS="$*"
verify=1
uv_args=()
while (($#)); do
  case "$1" in
    --upgrade) uv_args+=(--upgrade) ;;
    --upgrade-package) uv_args+=(--upgrade-package "$2"); shift ;;
    --no-verify) verify=0 ;;
    -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "relock: unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

mkdir -p "$WORK/new"
if ! "$WORK/uv/bin/uv" --version 2>/dev/null | grep -q " $UV_VERSION"; then
  echo "==> installing uv $UV_VERSION into $WORK/uv"
  python3.11 -m venv --clear "$WORK/uv"
  "$WORK/uv/bin/python" -m pip install --quiet --progress-bar off "uv==$UV_VERSION"
fi
UV="$WORK/uv/bin/uv"

compile() { # OUT CONSTRAINTS... : resolve pyproject.toml + build.in into OUT, preferring OUT's pins
  local out="$1"
  shift
  "$UV" pip compile pyproject.toml packaging/locks/build.in "${EXTRAS[@]}" \
    --generate-hashes --python-version 3.11 --python-platform "$PLATFORM" \
    --custom-compile-command "bash packaging/relock.sh" --quiet "$@" "${uv_args[@]}" -o "$out"
}

echo "==> resolving the CPU lock (torch $TORCH_VERSION+cpu)"
cp "$LOCKS/$CPU_LOCK" "$WORK/new/$CPU_LOCK" 2>/dev/null || true
echo "torch==$TORCH_VERSION+cpu" >"$WORK/torch-cpu.txt"
find_links=()
[[ -d /opt/wheels ]] && find_links=(--find-links /opt/wheels)
compile "$WORK/new/$CPU_LOCK" -c "$WORK/torch-cpu.txt" "${find_links[@]}"

echo "==> resolving the CUDA lock (torch $TORCH_VERSION, the other pins as in the CPU lock)"
grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*==' "$WORK/new/$CPU_LOCK" | sed 's/ .*//' |
  grep -v '^torch==' >"$WORK/shared-pins.txt"
echo "torch==$TORCH_VERSION" >>"$WORK/shared-pins.txt"
cp "$LOCKS/$CUDA_LOCK" "$WORK/new/$CUDA_LOCK" 2>/dev/null || true
uv_args=() # the CUDA lock follows the CPU lock's pins, upgraded or not
compile "$WORK/new/$CUDA_LOCK" -c "$WORK/shared-pins.txt"

python3.11 "$ROOT/packaging/lock_diff.py" "$LOCKS/$CPU_LOCK" "$WORK/new/$CPU_LOCK" \
  >"$WORK/changes-cpu.md"
python3.11 "$ROOT/packaging/lock_diff.py" "$LOCKS/$CUDA_LOCK" "$WORK/new/$CUDA_LOCK" \
  >"$WORK/changes-cuda.md"
echo "==> changes (CPU lock):"
cat "$WORK/changes-cpu.md"

if ((verify == 0)); then
  echo "==> --no-verify: the new locks are in $WORK/new/, packaging/locks/ is unchanged"
  exit 0
fi

started=$(date +%s)
echo "==> the whole test command on a fresh venv with the new CPU lock"
rm -rf "$WORK/venv"
STUDIO_VENV="$WORK/venv" STUDIO_LOCK="$WORK/new/$CPU_LOCK" bash packaging/bootstrap.sh --test
tested=$(($(date +%s) - started))
echo "==> the desktop bundle from that venv, and its smoke test"
STUDIO_VENV="$WORK/venv" STUDIO_DIST="$WORK/dist" bash packaging/build.sh
bash packaging/smoke.sh "$WORK/dist/studio"
bundled=$(($(date +%s) - started - tested))

cp "$WORK/new/$CPU_LOCK" "$LOCKS/$CPU_LOCK"
cp "$WORK/new/$CUDA_LOCK" "$LOCKS/$CUDA_LOCK"
{
  echo
  echo "## $(date -u +%Y-%m-%d) relock (at $(git rev-parse --short HEAD))"
  echo
  echo "Command: \`bash packaging/relock.sh${ARGS:+ $ARGS}\`. Test command passed in ${tested} s on a fresh venv;"
  echo "bundle built and smoke-tested in ${bundled} s."
  echo
  echo "CPU lock:"
  cat "$WORK/changes-cpu.md"
  echo
  echo "CUDA lock:"
  cat "$WORK/changes-cuda.md"
} >>"$LOCKS/CHANGES.md"
echo "==> locks replaced; packaging/locks/CHANGES.md has the entry. Commit them together."
