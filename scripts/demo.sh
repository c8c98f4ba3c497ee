#!/usr/bin/env bash
# Set up, index the bundled sample photos, and search them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# A private index for the demo, so it never touches your real one.
export PICSCRIBE_HOME="$PWD/.picscribe-demo"
.venv/bin/picscribe index data/samples
for query in "pizza on a plate" "a bus on the road" "stop sign"; do
  echo
  echo "\$ picscribe search \"$query\" --limit 3"
  .venv/bin/picscribe search "$query" --limit 3
done
