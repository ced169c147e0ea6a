#!/usr/bin/env bash
# Run the whole Retain workflow on the embedded demo data and print where the reports are.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-venv.sh
formats=()
if ! command -v quarto >/dev/null && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
   && ! command -v google-chrome >/dev/null && [ -z "${RETAIN_CHROMIUM:-}" ]; then
  echo "[demo] No PDF engine: neither Quarto nor Chromium is installed, so this run makes the HTML reports only." >&2
  echo "[demo] For the PDF, install Quarto (conda env from environment.yml) or Chromium, then run this again." >&2
  formats=(--formats html)
fi
exec .venv/bin/retain run "${formats[@]}" "$@"
