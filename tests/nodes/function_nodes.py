"""Module-level function nodes for the tests that pickle them (pickles refer to functions
by module and name)."""

from pocketflow_ext import node


def is_large(size):
    return size > 10


def double_fallback(exc):
    return -1


@node(
    reads={"size": "n"}, retries=2, delay=0.25, backoff=3.0, when=is_large, fallback=double_fallback
)
def doubled(size):
    return size * 2


@node(batch="item", reads={"item": "items"}, cache=True, cache_ttl=60, version="v2")
def squared(item):
    return item * item


def has_ticket(shared):
    return "ticket" in shared
