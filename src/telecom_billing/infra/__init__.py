"""Infrastructure: settings, pinned versions and jars, the embedded broker, topics, Kafka client
properties and the Spark session. Nothing here knows a telecom rule."""
