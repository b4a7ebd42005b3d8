"""The embedded broker's cluster id is one Kafka's storage tool accepts."""

from __future__ import annotations

import base64
import uuid

import pytest

from telecom_billing.infra import broker


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A base64url id starting with '-' is taken for an option by `kafka-storage format -t` (1 start in 64)."""
    dash = uuid.UUID(bytes=b"\xfb" + bytes(15))  # base64url of 0xfb... starts with '-'
    assert base64.urlsafe_b64encode(dash.bytes).decode().startswith("-")
    draws = iter([dash, dash, uuid.UUID(int=1)])
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: next(draws))
    cluster_id = broker._cluster_id()
    assert cluster_id == "AAAAAAAAAAAAAAAAAAAAAQ"  # 15 zero bytes then 0x01, base64url without padding
    assert len(cluster_id) == 22


def test_cluster_ids_are_random_and_well_formed() -> None:
    ids = {broker._cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
