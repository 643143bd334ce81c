"""CacheMixin: ``cache=``, ``cache_ttl=`` and ``cache_version=`` on a node (or as class
attributes). The attempt loop (``attempts.py``) answers ``exec`` from the cache when
``cache`` is set; see ``pocketflow_ext/cache/`` and docs/cache.md."""

from __future__ import annotations

from typing import Any

from ..cache.policy import Cache, check_setting


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
        check_setting(self)
