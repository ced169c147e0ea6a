#!/usr/bin/env bash
# Run Retain's test suite (unit, property, end-to-end workflow, browser when Chromium exists).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-venv.sh
exec .venv/bin/python -m pytest "$@"
