"""Tokens, cost and latency of exchanges: per exchange, summed per cassette and per side.

Tokens come from the `usage` of a response: in its final event (`response.completed`,
`.failed`, `.incomplete`, `.done`) for a stream or a WebSocket turn, or in a JSON answer.
Cached tokens are `input_tokens_details.cached_tokens`, reasoning tokens
`output_tokens_details.reasoning_tokens` (a part of the output tokens, as the API counts
them). Latency comes from the recorded times: time to first event is when the first byte of
the answer came (for a WebSocket, the first server message after the first client message),
duration is until the exchange ended.

Prices are US dollars per million tokens, per model; a model is priced by its own name or
else by the longest priced name it starts with (`gpt-5` prices `gpt-5-2025-08-07`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rec.cassette import Exchange, HttpExchange, WebSocketExchange
from rec.config import Price

FINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete", "response.cancelled",
                          "response.done"})

TOKEN_FIELDS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens")
FIELDS = (*TOKEN_FIELDS, "cost", "first_event_ms", "duration_ms")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _detail(usage: Mapping[str, Any], details: str, key: str) -> int:
    table = usage.get(details)
    return _count(table.get(key)) if isinstance(table, dict) else 0


@dataclass(frozen=True, slots=True)
class Figures:
    """What an exchange (or a sum of them) cost: tokens, dollars (None: not priced) and milliseconds."""

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = 0.0
    first_event_ms: float | None = None
    duration_ms: float | None = None

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.input_tokens + other.input_tokens, self.cached_tokens + other.cached_tokens,
                       self.output_tokens + other.output_tokens, self.reasoning_tokens + other.reasoning_tokens,
                       self.total_tokens + other.total_tokens,
                       None if self.cost is None or other.cost is None else self.cost + other.cost,
                       _plus(self.first_event_ms, other.first_event_ms), _plus(self.duration_ms, other.duration_ms))

    def tokens(self) -> tuple[int, int, int, int, int]:
        return self.input_tokens, self.cached_tokens, self.output_tokens, self.reasoning_tokens, self.total_tokens

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


def _plus(x: float | None, y: float | None) -> float | None:
    """A sum of times where an unknown one counts as none."""
    return y if x is None else x if y is None else x + y


def total(figures: Iterable[Figures]) -> Figures:
    result = Figures()
    for one in figures:
        result = result + one
    return result


def delta(old: Figures, new: Figures) -> dict[str, Any]:
    """NEW minus OLD, field by field (None where either side is unknown)."""
    def minus(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else y - x

    return {name: minus(getattr(old, name), getattr(new, name)) for name in FIELDS}


def tokens_of(usage: Any) -> Figures:
    """The token counts of one `usage` object; zeros for a missing or odd one."""
    if not isinstance(usage, dict):
        return Figures()
    input_tokens, output_tokens = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
    return Figures(input_tokens=input_tokens, cached_tokens=_detail(usage, "input_tokens_details", "cached_tokens"),
                   output_tokens=output_tokens,
                   reasoning_tokens=_detail(usage, "output_tokens_details", "reasoning_tokens"),
                   total_tokens=_count(usage.get("total_tokens")) or input_tokens + output_tokens)


def model_of(response_model: str | None, request: Any) -> str | None:
    """The model that answered, or else the one asked for."""
    if response_model is not None:
        return response_model
    model = request.get("model") if isinstance(request, Mapping) else None
    return model if isinstance(model, str) else None


def price_for(model: str | None, prices: Mapping[str, Price]) -> Price | None:
    if model is None:
        return None
    if model in prices:
        return prices[model]
    names = [name for name in prices if model.startswith(name)]
    return prices[max(names, key=len)] if names else None


def cost_of(tokens: Figures, model: str | None, prices: Mapping[str, Price]) -> float | None:
    """What ``tokens`` cost in dollars: 0 without tokens, None when no price fits the model."""
    if not tokens.total_tokens:
        return 0.0
    price = price_for(model, prices)
    if price is None:
        return None
    uncached = tokens.input_tokens - tokens.cached_tokens
    spent = uncached * price.input + tokens.cached_tokens * price.cached_input + tokens.output_tokens * price.output
    return spent / 1_000_000


def latency(exchange: Exchange) -> tuple[float | None, float | None]:
    """(time to first event, duration) in milliseconds, None where the exchange has no such time."""
    if isinstance(exchange, HttpExchange):
        chunks = exchange.response.chunks if exchange.response else []
        return (chunks[0][0] if chunks else None), exchange.duration_ms
    if isinstance(exchange, WebSocketExchange):
        frames = iter(exchange.frames)  # one iterator: the answer is looked for after the question
        asked = next((f.at_ms for f in frames if f.from_client), None)
        answered = next((f.at_ms for f in frames if not f.from_client), None)
        return (None if answered is None or asked is None else answered - asked), exchange.duration_ms
    return None, None
