"""Action caches: the read and write interfaces and the local implementation."""

from graphbuild.cache.definition import ActionKey, Cache, CacheReader, CachedResult, action_key
from graphbuild.cache.local import LocalCache

__all__ = ["ActionKey", "Cache", "CacheReader", "CachedResult", "LocalCache", "action_key"]
