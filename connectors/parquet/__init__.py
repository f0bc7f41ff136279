"""ParquetSink: topics as exactly-once Parquet files on local disk, S3-compatible stores or HDFS.

See :mod:`connectors.parquet.store` for the file layout and commit protocol and
:mod:`connectors.parquet.task` for the task lifecycle.
"""

from connectors.parquet.connector import ParquetSink
from connectors.parquet.task import VERSION, ParquetSinkTask

__all__ = ["VERSION", "ParquetSink", "ParquetSinkTask"]
