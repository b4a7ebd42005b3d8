#!/usr/bin/env bash
# `make compose-test`: the real `docker compose up` test (tests/docker/test_compose_up.py), which
# starts a Docker engine if needed (scripts/docker-engine.sh), gets Compose (scripts/compose.sh),
# builds stand-ins for the base images when no registry answers (tests/docker/standins/build.sh),
# and checks the stack end to end. COMPOSE_TEST=1 makes pytest collect that module (tests/docker/
# conftest.py); zero tests collected is a failure too. Then the producer and tail tests run on a
# testcontainers Kafka of the same image. Exits non-zero on any problem.
# Leaves the images and the build cache (later runs are quicker) and no container (`down -v`); a
# dockerd that this run started is stopped again at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export COMPOSE_TEST=1

engine_was_up=false
bash scripts/docker-engine.sh status && engine_was_up=true

status=0
# The whole test is bounded: each wait inside has its own timeout; this is the outer limit.
timeout --kill-after=60 "${COMPOSE_TEST_TIMEOUT:-3600}" \
    .venv/bin/pytest tests/docker/test_compose_up.py -x -s -p no:cacheprovider -o timeout=3000 "$@" || status=$?

# testcontainers for real: with the engine up and the Kafka image there (pulled or the stand-in),
# the tests' Kafka fixture takes its container path (tests/conftest.py); here it must.
if [[ $status -eq 0 ]]; then
    KAFKA_TEST_CONTAINER=required timeout --kill-after=60 900 \
        .venv/bin/pytest tests/integration/test_producer.py tests/integration/test_tail.py -p no:cacheprovider \
        || status=$?
fi

if [[ $engine_was_up == false ]]; then
    bash scripts/docker-engine.sh stop || true
fi
exit "$status"
