"""Semantic digests per source format, shared by the rules: SQL, Python, Avro, HCL, YAML, JSON, TOML.

Each function maps file content to JSON-ready facts that are insensitive to what does not change
meaning (whitespace, comments, key order) and is used through a cached ``Analyzer``.
"""
