"""A local PySpark session for dearstats (the Spark extra)."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["spark_session"]


def spark_session(master: str = "local[2]") -> Any:
    """The active Spark session, or a new local one configured for calendar dates.

    Workers run on this interpreter (``PYSPARK_PYTHON`` defaults to ``sys.executable``),
    the session time zone is UTC so dates never shift, and the UI is off.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the extra
        from dearstats.errors import InputError

        raise InputError(
            "PySpark is not installed; install the Spark extra: pip install 'dearstats[spark]'."
        ) from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return (
        SparkSession.builder.master(master)
        .appName("dearstats")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
