"""Shared library of the FinSight Spark jobs.

Jobs import what they need from the role modules, never from this package root::

    from finsight_spark.session import build_session
    from finsight_spark.io import read_table, write_partition
"""

__version__ = "1.4.0"
