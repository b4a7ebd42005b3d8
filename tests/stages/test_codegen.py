"""The plan stays JIT-friendly: HotSpot does not compile a method of more than 8,000 bytes of
bytecode (`-XX:-DontCompileHugeMethods` is not set), so every fused stage must stay below it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import functions as F

from telecom_billing.infra.settings import load_settings
from telecom_billing.mediation.columns import rarely
from telecom_billing.output import rated_json, rejected_json
from telecom_billing.pipeline import rate_batch
from telecom_billing.refdata.catalog import load_catalog
from telecom_billing.refdata.subscribers import load_subscribers

HUGE_METHOD = 8000


def method_sizes(spark: Any, frame: Any) -> list[int]:
    spark.conf.set("spark.sql.adaptive.enabled", "false")  # the final plan, without running it
    try:
        text = spark._jvm.PythonSQLUtils.explainString(frame._jdf.queryExecution(), "codegen")
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", "true")
    return [int(size) for size in re.findall(r"maxMethodCodeSize:(\d+)", text)]


def test_every_generated_method_of_the_rating_plan_is_compilable(spark: Any) -> None:
    settings = load_settings()
    raw = spark.createDataFrame([(b"{}", "raw", 0, 0, None)],
                                "value binary, topic string, partition int, offset bigint, timestamp timestamp")
    outcome = rate_batch(spark, raw, load_catalog(settings.catalog_dir), load_subscribers(settings.subscribers_file),
                         datetime(2026, 10, 1, tzinfo=UTC))
    # As the file driver writes it: `outcome` keeps deduplication's window (and its shuffle) in the plan.
    record = F.when(F.col("reason").isNull(), rated_json()).otherwise(rarely(rejected_json()))
    sizes = method_sizes(spark, outcome.select("outcome", record.alias("value")))
    assert len(sizes) >= 4, sizes
    assert max(sizes) < HUGE_METHOD, sizes
