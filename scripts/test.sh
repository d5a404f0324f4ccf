#!/usr/bin/env bash
# One command on a fresh machine: install with test extras, then run the whole test suite.
# The tests start their own broker (`wirewatch broker`), Slack sink and workers.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh "[test]"
# The Compose Specification's JSON Schema, for the docker-compose.yml test: taken from the
# docker-compose 1.29.2 wheel on PyPI (the registry is reachable; GitHub is not).
if [ ! -s var/cache/compose_spec.json ]; then
  mkdir -p var/cache
  .venv/bin/python -m pip download -q --no-deps --dest var/cache docker-compose==1.29.2
  .venv/bin/python -c 'import zipfile,sys; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("compose/config/compose_spec.json"))' \
    var/cache/docker_compose-1.29.2-py2.py3-none-any.whl > var/cache/compose_spec.json
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Known-vulnerable dependencies: pip-audit where a vulnerability service answers, else offline floors.
.venv/bin/python scripts/audit.py
# Two test processes (pytest-xdist), whole files to each: the end-to-end tests spend much of their
# time waiting on Slack pacing, group joins and fault windows, so two at a time halve the wall time
# on 2 cores. Each process starts its own broker. WIREWATCH_TEST_WORKERS=0 runs everything in one.
exec .venv/bin/python -m pytest -n "${WIREWATCH_TEST_WORKERS:-2}" --dist loadfile "$@"
