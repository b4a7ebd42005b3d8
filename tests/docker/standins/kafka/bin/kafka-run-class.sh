#!/usr/bin/env bash
# Stand-in for Kafka's kafka-run-class.sh: the JVM with every jar of /opt/kafka/libs on the classpath,
# and the same environment knobs (KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS, KAFKA_OPTS).
base=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC2086  # the *_OPTS variables are word lists, as in Kafka's own script
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true} \
    ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base/config/tools-log4j2.properties} ${KAFKA_OPTS:-} \
    -cp "$base/libs/*" "$@"
