#!/usr/bin/env bash
# Smoke-test the built bundle (packaging/build.sh): it must run on its own, offscreen.
#
#   bash packaging/smoke.sh [BUNDLE_DIR]     default: dist/studio
#
# With a private HOME and XDG folders, from an empty working folder and without PYTHONPATH (so
# nothing of the checkout or the venv can stand in for the bundle), it checks that the bundle:
#   1. answers --help;
#   2. opens its window offscreen (the window writes the time of its first paint, then closes);
#   3. generates with the embedded pair: `compare` (teacher beside student, same noise) and one
#      `generate` per model; the PNGs must decode, must not be blank, and must carry parameters;
#      the comparison again through the engine process (the bundle started as `--engine-child`,
#      as the window starts it), which must give the same file byte for byte; a comparison
#      animated as a WebP, while an MP4 is refused with the reason: the bundle carries no PyAV
#      (its FFmpeg holds GPL x264/x265), and no file of PyAV or those codecs is in its tree;
#   4. installs and removes its desktop files in a private XDG data folder.
# Set STUDIO_SMOKE_KEEP=1 to keep the work folder with the images.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="$(cd "${1:-$ROOT/dist/studio}" && pwd)"
EXE="$BUNDLE/studio"
CHECK_PNG=(python3 "$ROOT/packaging/check_png.py")
[[ -x "$EXE" ]] || {
  echo "smoke: no bundle at $BUNDLE; build it with bash packaging/build.sh." >&2
  exit 1
}

WORK="$(mktemp -d)"
if [[ "${STUDIO_SMOKE_KEEP:-}" == 1 ]]; then
  echo "smoke: keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"/{home,config,data,state,cache,out}
cd "$WORK"
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data"
export XDG_STATE_HOME="$WORK/state" XDG_CACHE_HOME="$WORK/cache"
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
step() { printf '\n==> %s\n' "$*"; }
fail() {
  echo "smoke: FAILED: $*" >&2
  exit 1
}

step "1. --help"
"$EXE" --help | grep -q "install-desktop" || fail "studio --help does not list its commands"
echo "ok"

step "2. the window opens offscreen"
started="$(now)"
STUDIO_STARTUP_PROBE="$WORK/probe.txt" timeout 180 "$EXE" >"$WORK/window.log" 2>&1 ||
  fail "the window did not start and close (log: $(tail -5 "$WORK/window.log"))"
[[ -s "$WORK/probe.txt" ]] || fail "the window was never painted"
echo "process start -> window first painted: $(seconds "$started" "$(cat "$WORK/probe.txt")") s"
! grep -qi "gtk\|could not load the qt platform plugin" "$WORK/window.log" ||
  fail "Qt complained at start-up: $(grep -i 'gtk\|platform plugin' "$WORK/window.log" | head -3)"

step "3. generating with the embedded pair"
started="$(now)"
timeout 600 "$EXE" compare -q --seed 7 -o out/compare.png
echo "compare: $(seconds "$started" "$(now)") s"
timeout 600 "$EXE" generate -q --model emoji-teacher --seed 7 -o out/teacher.png
timeout 600 "$EXE" generate -q --model emoji-student-4step --sampler "DDIM trailing" --steps 4 \
  --guidance 1 --seed 7 -o out/student.png
"${CHECK_PNG[@]}" out/compare.png out/teacher.png out/student.png || fail "an image is missing or blank"
"$EXE" params out/compare.png | grep -q "emoji-student-4step" ||
  fail "the comparison's PNG does not record its student"
started="$(now)"
timeout 600 "$EXE" compare -q --seed 7 --engine process -o out/compare-process.png ||
  fail "the comparison through the engine process (the window's engine) failed"
echo "compare through the engine process: $(seconds "$started" "$(now)") s"
cmp -s out/compare.png out/compare-process.png ||
  fail "the engine process made another comparison than the in-process engine"
timeout 600 "$EXE" compare -q --seed 7 --teacher-steps 8 -o out/animated.png \
  --animate out/animated.webp || fail "the comparison as an animated WebP failed"
[[ "$(head -c 12 out/animated.webp | tail -c 4)" == WEBP ]] || fail "out/animated.webp is no WebP"
echo "animated comparison: $(du -h out/animated.webp | cut -f1) WebP"
if timeout 600 "$EXE" compare -q --seed 7 -o out/refused.png --animate out/refused.mp4 \
  2>"$WORK/mp4.log"; then
  fail "the bundle accepted --animate x.mp4, so it carries PyAV"
fi
grep -q "MP4 needs PyAV, which the desktop bundle leaves out because its FFmpeg carries GPL" \
  "$WORK/mp4.log" || fail "--animate x.mp4 was refused without the reason: $(cat "$WORK/mp4.log")"
[[ ! -e out/refused.png && ! -e out/refused.mp4 ]] || fail "the refused MP4 comparison ran"
PYAV="$BUNDLE/_internal/av"
gpl="$(find "$BUNDLE" -name 'libx264*' -o -name 'libx265*' -o -path "$PYAV" -o -path "$PYAV.*" \
  -o -path "$PYAV-*" | head -5)"
[[ -z "$gpl" ]] || fail "the bundle carries PyAV or GPL codecs: $gpl"
echo "MP4 refused with the reason; no PyAV nor x264/x265 in the bundle"

step "4. desktop files"
"$EXE" install-desktop >"$WORK/install.log"
entry="$XDG_DATA_HOME/applications/io.github.studio.Studio.desktop"
grep -qx "Exec=$EXE" "$entry" || fail "the desktop entry does not start $EXE: $(grep Exec= "$entry")"
for file in metainfo/io.github.studio.Studio.metainfo.xml \
  icons/hicolor/256x256/apps/io.github.studio.Studio.png \
  icons/hicolor/scalable/apps/io.github.studio.Studio.svg; do
  [[ -s "$XDG_DATA_HOME/$file" ]] || fail "install-desktop did not write $file"
done
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$entry"; fi
"$EXE" uninstall-desktop >/dev/null
[[ ! -e "$entry" ]] || fail "uninstall-desktop left $entry"
echo "ok"

printf '\nsmoke: PASSED (%s, %s)\n' "$BUNDLE" "$(du -sh "$BUNDLE" | cut -f1)"
