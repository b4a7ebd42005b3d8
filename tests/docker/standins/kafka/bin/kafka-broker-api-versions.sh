#!/usr/bin/env bash
# Stand-in for Kafka's kafka-broker-api-versions.sh: the same main class as the distribution's script.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
