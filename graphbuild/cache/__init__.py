"""Action caches: the read and write interfaces, the local cache, the shared S3 cache and their layering."""

from graphbuild.cache.definition import ActionKey, Cache, CacheReader, CachedResult, action_key
from graphbuild.cache.layered import LayeredCache, open_cache
from graphbuild.cache.local import LocalCache
from graphbuild.cache.remote import CacheStats, CircuitBreaker, S3Cache

__all__ = [
    "ActionKey",
    "Cache",
    "CacheReader",
    "CacheStats",
    "CachedResult",
    "CircuitBreaker",
    "LayeredCache",
    "LocalCache",
    "S3Cache",
    "action_key",
    "open_cache",
]
