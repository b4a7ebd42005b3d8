#!/usr/bin/env bash
# Makes a Docker engine answer, idempotently: nothing to do when `docker info` already works;
# else (root only) installs Debian's docker.io when dockerd is missing and starts dockerd in the
# background, logging to $DOCKERD_LOG. Used by scripts/compose-test.sh (make compose-test, .ci/run).
#
# Usage: scripts/docker-engine.sh start   start one if none answers; exit 1 when that is impossible
#        scripts/docker-engine.sh stop    stop the dockerd this script started (pid file), if any
#        scripts/docker-engine.sh status  exit 0 when an engine answers, 1 otherwise
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/telecom-dockerd.log}
DOCKERD_PID=${DOCKERD_PID:-/run/telecom-dockerd.pid}
START_TIMEOUT=${DOCKERD_START_TIMEOUT:-60}

say() { printf 'docker-engine: %s\n' "$*" >&2; }

# The CLI at /usr/local/bin (28.x) talks to the older 20.10 daemon of Debian's docker.io by API
# version negotiation; the check is the CLI answering, whichever daemon it finds.
engine_answers() { timeout 10 docker info > /dev/null 2>&1; }

install_dockerd() {
    command -v dockerd > /dev/null && return 0
    [[ $(id -u) -eq 0 ]] || { say "dockerd is not installed and this is not root: cannot install it"; return 1; }
    say "installing Debian's docker.io (dockerd, containerd, runc)"
    # Debian's docker.io also ships /usr/bin/docker; /usr/local/bin/docker (if any) stays first on PATH.
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io > /dev/null
}

start_dockerd() {
    [[ $(id -u) -eq 0 ]] || { say "no engine answers and this is not root: cannot start dockerd"; return 1; }
    install_dockerd
    say "starting dockerd in the background (log: $DOCKERD_LOG)"
    # No systemd here: dockerd starts its own containerd. setsid: it outlives this script and the test.
    setsid dockerd --pidfile "$DOCKERD_PID" > "$DOCKERD_LOG" 2>&1 < /dev/null &
    local t0=$SECONDS
    until engine_answers; do
        if (( SECONDS - t0 > START_TIMEOUT )); then
            say "dockerd did not answer within ${START_TIMEOUT}s; last lines of $DOCKERD_LOG:"
            tail -n 20 "$DOCKERD_LOG" >&2
            return 1
        fi
        sleep 1
    done
    say "dockerd answers after $((SECONDS - t0))s"
}

stop_dockerd() {
    [[ -f $DOCKERD_PID ]] || { say "no dockerd started by this script"; return 0; }
    local pid
    pid=$(cat "$DOCKERD_PID")
    say "stopping dockerd (pid $pid)"
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2> /dev/null || return 0; sleep 1; done
    say "dockerd (pid $pid) still running after 30s"
    return 1
}

case "${1:-start}" in
    start) engine_answers && { say "an engine already answers"; exit 0; }; start_dockerd ;;
    stop) stop_dockerd ;;
    status) engine_answers ;;
    *) say "usage: $0 start|stop|status"; exit 2 ;;
esac
