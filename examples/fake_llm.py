"""An offline stand-in for an LLM client, so every example runs without keys or network."""

from __future__ import annotations

import asyncio


class FlakyError(ConnectionError):
    """What a rate-limited LLM API raises now and then."""


class FakeLLM:
    """Deterministic 'LLM': summarises by keeping the first words; can fail the first calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls = 0
        self.fail_first = fail_first

    def complete(self, prompt: str) -> str:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise FlakyError(f"rate limited (call {self.calls})")
        words = prompt.split()
        return " ".join(words[:8]) + ("..." if len(words) > 8 else "")

    async def complete_async(self, prompt: str) -> str:
        await asyncio.sleep(0.01)  # stands in for network latency
        return self.complete(prompt)
