#!/usr/bin/env bash
# Prints the command of a Compose v2 implementation (one line, for the caller to split):
#   * `docker compose` when the CLI has the compose plugin;
#   * else .local/tools/docker-compose-<version>, built once from the pinned Go module. `go install
#     github.com/docker/compose/v2/cmd@<v>` refuses (the module's go.mod has exclude directives), so
#     the module is downloaded into the module cache and built from inside its directory.
# v2.29.7: past v2.20 (optional depends_on), builds with its embedded buildx library against the
# engine's BuildKit (no buildx plugin, no `buildx bake` delegation: that came in later versions).
#
# Usage: scripts/compose.sh          print the command (building it first if needed)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
COMPOSE_VERSION=v2.29.7
TOOLS=$PWD/.local/tools
BIN=$TOOLS/docker-compose-$COMPOSE_VERSION

say() { printf 'compose: %s\n' "$*" >&2; }

plugin_answers() { docker compose version > /dev/null 2>&1; }

build_compose() {
    command -v go > /dev/null || { say "no compose plugin and no Go toolchain to build one"; return 1; }
    local dir t0=$SECONDS
    say "building docker compose $COMPOSE_VERSION from its Go module (first time only, a few minutes)"
    dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d $dir ]] || { say "go mod download gave no module directory"; return 1; }
    mkdir -p "$TOOLS"
    # Inside the module: its own go.mod (replace/exclude directives included) governs the build.
    (cd "$dir" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
        -o "$BIN.tmp" ./cmd)
    mv "$BIN.tmp" "$BIN"
    say "built $BIN in $((SECONDS - t0))s"
}

if plugin_answers; then
    echo "docker compose"
    exit 0
fi
[[ -x $BIN ]] || build_compose
"$BIN" version > /dev/null
echo "$BIN"
