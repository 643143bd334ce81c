"""CacheMixin: ``cache=``, ``cache_ttl=`` and ``cache_version=`` on a node (or as class
attributes). A node with ``cache`` set becomes an instance of its class's variant with
:class:`CachedExec` in front, which answers ``exec`` from the result cache
(``pocketflow_ext/cache/``, docs/cache.md); other nodes run exactly as before."""

from __future__ import annotations

from typing import Any

from ..cache.lookup import cached_call, cached_call_async
from ..cache.policy import Cache, check_setting
from .variants import Layer, with_layer


class CacheMixin:
    """Cache ``exec``'s results in the run store, keyed on input, code and ``cache_version``.

    ``cache``: True or a :class:`~pocketflow_ext.Cache` policy; ``cache_ttl``: seconds an
    entry stays valid; ``cache_version``: bump it to invalidate entries by hand.
    """

    cache: bool | Cache | None = None
    cache_ttl: float | None = None
    cache_version: str | int | None = None

    def __init__(
        self,
        *args: Any,
        cache: bool | Cache | None = None,
        cache_ttl: float | None = None,
        cache_version: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Only set on the instance when given, so upstream's per-step copy stays cheap.
        if cache is not None:
            self.cache = cache
        if cache_ttl is not None:
            self.cache_ttl = cache_ttl
        if cache_version is not None:
            self.cache_version = cache_version
        if self.cache:
            check_setting(self)
            with_layer(self, CachedExec)


class CachedExec(Layer):
    """``exec`` (one item's, in a batch) answered from the cache when an entry exists.

    The attempt loop calls this ``exec``: a hit returns at once (the node's own ``exec``
    and its retries do not run); a miss runs the node's ``exec`` and stores what it
    returned. A failed attempt stores nothing, and ``exec_fallback``'s value never
    passes through here, so failures and fallbacks are never cached.
    """

    def exec(self, prep_res: Any) -> Any:
        return cached_call(self, prep_res, super().exec)  # type: ignore[misc]

    async def exec_async(self, prep_res: Any) -> Any:
        return await cached_call_async(self, prep_res, super().exec_async)  # type: ignore[misc]
