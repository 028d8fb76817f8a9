"""fraud_lakehouse: a Dagster code location running a fraud-detection medallion lakehouse on Delta and Spark."""

from fraud_lakehouse.runtime import choose_arrow_allocator

# Before anything imports pyarrow: it picks its allocator once, on import.
choose_arrow_allocator()
