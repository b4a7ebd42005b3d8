#!/usr/bin/env bash
# Stand-in for Kafka's kafka-storage.sh: the same main class as the distribution's script.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
