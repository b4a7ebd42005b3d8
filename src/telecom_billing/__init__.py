"""CDR mediation, rating and billing on Kafka and Spark."""

__version__ = "0.1.0"
