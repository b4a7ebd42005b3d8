"""Errors that the CLI turns into one clear line (no traceback)."""


class TelecomError(Exception):
    """An expected failure with a message for the user; exit code 1."""


class UsageError(TelecomError):
    """Bad arguments or configuration; exit code 2."""


class ServiceUnavailable(TelecomError):
    """A service (Kafka broker, Java, Maven) is missing or not answering."""
