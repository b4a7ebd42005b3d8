#!/usr/bin/env bash
# Makes the official images of the stack available: apache/kafka:<KAFKA_VERSION>,
# apache/spark:<SPARK_VERSION>-scala2.13-java17-python3-ubuntu and postgres:<POSTGRES_VERSION>-bookworm
# (telecom_billing/infra/versions.py).
# Present locally or pullable: nothing else happens. Otherwise (no registry answers) it builds
# STAND-INS tagged with the official names, and says so loudly:
#   1. a Debian bookworm root filesystem from debootstrap (the mirror this machine's apt uses), `docker import`ed as
#      telecom-standin/debian:bookworm, since not even a `debian` image can be pulled;
#   2. telecom-standin/jre17:bookworm: that plus Java 17 and tini (jre/Dockerfile);
#   3. Kafka: Kafka's jars of the pinned version from Maven Central (python -m telecom_billing.infra.jars)
#      laid out as /opt/kafka, with the official entrypoint's KAFKA_* contract (kafka/);
#   4. Spark: the pinned pyspark wheel from PyPI laid out as /opt/spark (spark/);
#   5. PostgreSQL: Debian bookworm's postgresql-15 with the official entrypoint's POSTGRES_* contract
#      (postgres/), on the Debian base (no Java).
# The stand-ins are test scaffolding: they live here, apart from the product's Dockerfiles.
#
# Usage: tests/docker/standins/build.sh [--force]    (--force: rebuild the stand-ins even if present)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
BASE=telecom-standin/debian:bookworm
JRE=telecom-standin/jre17:bookworm
LABEL=org.telecom-billing.standin=true
PULL_TIMEOUT=${STANDIN_PULL_TIMEOUT:-60}
FORCE=${1:-}

say() { printf 'standins: %s\n' "$*" >&2; }
loud() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' "$*" >&2; }
version() { "$PY" -c "from telecom_billing.infra import versions; print(versions.$1)"; }
have_image() { docker image inspect "$1" > /dev/null 2>&1; }
is_standin() { [[ $(docker image inspect -f '{{index .Config.Labels "org.telecom-billing.standin"}}' "$1" 2> /dev/null) == true ]]; }

# The official image, or a pull of it; false when neither (then a stand-in is needed).
official_available() {
    local image=$1
    if have_image "$image"; then
        [[ $FORCE == --force ]] && is_standin "$image" && return 1
        return 0
    fi
    say "pulling $image (timeout ${PULL_TIMEOUT}s)"
    timeout "$PULL_TIMEOUT" docker pull -q "$image" > /dev/null 2>&1
}

# Legacy builder: the stand-ins need no BuildKit feature, and it needs no buildx plugin.
build() {
    local log
    log=$(mktemp)
    DOCKER_BUILDKIT=0 docker build -q --label "$LABEL" "$@" > /dev/null 2> "$log" || { cat "$log" >&2; rm -f "$log"; return 1; }
    rm -f "$log"
}

# The Debian mirror this machine's apt already uses for bookworm (from its sources, after an update).
apt_mirror() {
    apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' 'Created-By: Packages' | awk 'NR == 1'
}

base_image() {
    have_image "$BASE" && return 0
    command -v debootstrap > /dev/null || {
        say "installing debootstrap"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
    }
    local rootfs mirror t0=$SECONDS
    mirror=$(apt_mirror)
    [[ -n $mirror ]] || { apt-get update -qq; mirror=$(apt_mirror); }
    [[ -n $mirror ]] || { say "error: this machine's apt sources have no Debian bookworm mirror"; return 1; }
    rootfs=$(mktemp -d /tmp/standin-rootfs.XXXXXX)
    say "debootstrap: Debian bookworm (minbase) from $mirror into $rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$rootfs.log" 2>&1 \
        || { tail -n 20 "$rootfs.log" >&2; return 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE" > /dev/null
    rm -rf "$rootfs" "$rootfs.log"
    say "base image $BASE imported ($((SECONDS - t0))s)"
}

jre_image() {
    have_image "$JRE" && [[ $FORCE != --force ]] && return 0
    local t0=$SECONDS
    build -t "$JRE" "$HERE/jre"
    say "built $JRE ($((SECONDS - t0))s)"
}

# Broker jars first; from the tools' classpath only the artifacts the broker does not already have
# (so one version of each library, the broker's).
kafka_libs() {
    local dest=$1 jars
    jars=$("$PY" -c "from telecom_billing.infra.settings import load_settings; print(load_settings().jars_dir)")
    "$PY" -m telecom_billing.infra.jars broker > /dev/null
    "$PY" -m telecom_billing.infra.jars tools > /dev/null
    cp "$jars"/broker/*.jar "$dest/"
    local jar artifact
    for jar in "$jars"/tools/*.jar; do
        artifact=$(basename "$jar" | sed -E 's/-[0-9][^-]*(-GA)?\.jar$//')
        compgen -G "$dest/$artifact-[0-9]*.jar" > /dev/null || cp "$jar" "$dest/"
    done
}

kafka_image() {
    local image=$1 ctx t0=$SECONDS
    ctx=$(mktemp -d /tmp/standin-kafka.XXXXXX)
    cp -r "$HERE/kafka/." "$ctx/"
    mkdir -p "$ctx/libs"
    kafka_libs "$ctx/libs"
    build -t "$image" "$ctx"
    rm -rf "$ctx"
    say "built stand-in $image ($((SECONDS - t0))s)"
}

spark_image() {
    local image=$1 spark_version=$2 ctx t0=$SECONDS
    ctx=$(mktemp -d /tmp/standin-spark.XXXXXX)
    cp -r "$HERE/spark/." "$ctx/"
    # pip's own cache makes this quick the second time; pyspark's only dependency is py4j.
    "$PY" -m pip wheel --quiet --disable-pip-version-check "pyspark==$spark_version" -w "$ctx/wheels"
    build -t "$image" "$ctx"
    rm -rf "$ctx"
    say "built stand-in $image ($((SECONDS - t0))s)"
}

postgres_image() {
    local image=$1 t0=$SECONDS
    build -t "$image" "$HERE/postgres"
    say "built stand-in $image ($((SECONDS - t0))s)"
}

main() {
    local kafka spark postgres needed=() names=()
    kafka=$(version KAFKA_IMAGE)
    spark=$(version SPARK_IMAGE)
    postgres=$(version POSTGRES_IMAGE)
    official_available "$kafka" || { needed+=(kafka); names+=("$kafka"); }
    official_available "$spark" || { needed+=(spark); names+=("$spark"); }
    official_available "$postgres" || { needed+=(postgres); names+=("$postgres"); }
    if [[ ${#needed[@]} -eq 0 ]]; then
        say "$kafka, $spark and $postgres are available (official or earlier stand-ins)"
        return 0
    fi
    loud "NO REGISTRY: BUILDING LOCAL STAND-INS FOR ${needed[*]} (tests/docker/standins), TAGGED WITH THE OFFICIAL NAMES"
    base_image
    [[ " ${needed[*]} " == *" kafka "* || " ${needed[*]} " == *" spark "* ]] && jre_image
    [[ " ${needed[*]} " == *" kafka "* ]] && kafka_image "$kafka"
    [[ " ${needed[*]} " == *" spark "* ]] && spark_image "$spark" "$(version SPARK_VERSION)"
    [[ " ${needed[*]} " == *" postgres "* ]] && postgres_image "$postgres"
    loud "STAND-INS IN USE: ${names[*]}"
}

main
