#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Extra arguments go to pytest.
#
#   scripts/test.sh            everything (the README's test command, and CI's)
#   scripts/test.sh --fast     the inner loop: unit + integration tiers, without
#                              the tests marked slow (under 2 minutes on 2 cores)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
args=("$@")
if [ "${1:-}" = "--fast" ]; then
  args=(tests/unit tests/integration -m "not slow" "${@:2}")
fi
.venv/bin/python -m pytest "${args[@]}"
rc=$?
# pytest exits 5 when it collected no tests: that is a failure, not a pass.
if [ "$rc" -eq 5 ]; then
  echo "error: no tests ran" >&2
  exit 1
fi
exit "$rc"
