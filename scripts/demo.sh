#!/usr/bin/env bash
# One command on a fresh machine: install, then run the whole pipeline on the embedded broker and Slack sink.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/wirewatch run --demo "$@"
