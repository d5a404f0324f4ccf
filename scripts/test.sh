#!/usr/bin/env bash
# One command on a fresh machine: install with test extras, then run the whole test suite.
# The tests start their own broker (`wirewatch broker`), Slack sink and workers.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh "[test]"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"
