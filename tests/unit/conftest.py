"""Fixtures of the unit tests: the shipped reference data, loaded once per module."""

from __future__ import annotations

import pytest

from telecom_billing.infra.settings import load_settings
from telecom_billing.refdata.catalog import Catalog, load_catalog
from telecom_billing.refdata.subscribers import Subscriber, load_subscribers


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The shipped catalog (data/catalog)."""
    return load_catalog(load_settings().catalog_dir)


@pytest.fixture(scope="module")
def subscribers() -> list[Subscriber]:
    """The shipped subscriber base (data/subscribers.csv)."""
    return load_subscribers(load_settings().subscribers_file)
