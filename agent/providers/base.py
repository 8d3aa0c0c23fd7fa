"""The Provider protocol: what the loop needs from a model, whatever API serves it.

An adapter (``anthropic.py``, ``openai.py``) translates :class:`~morrow.agent.messages.ModelRequest`
to its wire format and the answer back to :class:`~morrow.agent.messages.ModelResponse`. No SDK type
crosses this boundary, and adapters never retry: SDK retries are off and
``resilience.py`` owns the one retry policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from morrow.agent.messages import ModelRequest, ModelResponse, StreamEvent


@runtime_checkable
class Provider(Protocol):
    """A model behind some API.

    Attributes:
        name: the configured name of this provider (``[[providers]] name``).
        model: the model it asks.
    """

    name: str
    model: str

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model step, answered whole."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One model step, streamed: text deltas and tool-call starts, then ``ResponseDone``."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...
