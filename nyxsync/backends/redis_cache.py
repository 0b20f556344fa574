"""The cache of a checkout on its embedded Redis (nyxsync/settings/base.py): Django's Redis cache,
which starts the embedded server the first time a process uses the cache."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.functional import cached_property

from nyxsync import embedded


class RedisCache(DjangoRedisCache):
    @cached_property
    def _cache(self):
        embedded.ensure_redis()
        return super()._cache
