"""The pipeline's topics: names, partitions and retention from the settings, created idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ..errors import ServiceUnavailable
from .kafka_clients import python_client_kwargs
from .settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def pipeline_topics(settings: Settings) -> list[TopicSpec]:
    """cdr.raw, cdr.rated (kept for a whole billing period and more), cdr.rejected, the stream's
    own cdr.parts (partial records waiting for their session, RULES.md section 18), and the usage
    monitor's subscriber.alerts (DESIGN.md 7d)."""
    return [
        TopicSpec(settings.topic_raw, settings.partitions, {}),
        TopicSpec(settings.topic_rated, settings.partitions,
                  {"retention.ms": str(settings.rated_retention_ms)}),
        TopicSpec(settings.topic_rejected, settings.partitions, {}),
        parts_topic(settings),
        TopicSpec(settings.topic_alerts, settings.partitions, {}),
    ]


def parts_topic(settings: Settings) -> TopicSpec:
    """The stream's internal topic: partial records on their way to their session."""
    return TopicSpec(settings.topic_parts, settings.partitions, {})


def admin_client(settings: Settings, timeout_s: float = 15.0) -> Any:
    """A KafkaAdminClient, or ServiceUnavailable after a bounded wait."""
    try:
        return KafkaAdminClient(**python_client_kwargs(settings), request_timeout_ms=int(timeout_s * 1000),
                                bootstrap_timeout_ms=int(timeout_s * 1000), client_id="telecom-admin")
    except (KafkaError, OSError) as exc:
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers} "
                                 f"({type(exc).__name__}); start one with `telecom broker start`") from None


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    specs = pipeline_topics(settings) if specs is None else specs
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created = []
        for spec in missing:
            try:
                admin.create_topics([NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.config)])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def describe_topics(settings: Settings, names: list[str]) -> dict[str, int]:
    """Partition count per existing topic among `names`."""
    admin = admin_client(settings)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)
                if not t.get("error_code")}
    finally:
        admin.close()
