"""Routes as data: what a request is, as the replay sees it, and the one table of endpoints rec knows.

A ``Route`` is the method and the path without its query and without a leading ``/v1``, so a
client whose base URL has ``/v1`` and one whose base URL lacks it reach the same exchanges.
``ENDPOINTS`` lists the Responses API operations whose answers mean something to the replay
beyond their bytes: a create is checked against the conversation's invariants, and an answer
that shows a response or a conversation teaches the replay's state (``replayer.conversation``).
Any other recorded route is served as recorded. Adding an endpoint is one entry here, and
its handler in ``replayer.conversation`` when it shows state of a new kind.

A ``PathPattern`` (``/responses/{response_id}/cancel``) is compiled once and yields the path
parameters of a route it matches; mounted rules and the ``rec serve`` control API use it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, NamedTuple

from rec.redaction import PLACEHOLDER as REDACTED
from rec.redaction import SECRET_QUERY_NAMES


class Route(NamedTuple):
    """A request's method and path (no query, no leading ``/v1``); ``show_route`` prints it."""

    method: str
    path: str


def route_of(method: str, target: str) -> Route:
    """The route of a request line's method and target."""
    path = target.partition("?")[0] or "/"
    if path == "/v1" or path.startswith("/v1/"):
        path = path[3:] or "/"
    # tuple.__new__ skips the NamedTuple's argument handling: this runs once per request.
    return tuple.__new__(Route, (method.upper(), path))


def show_route(route: Route) -> str:
    """``METHOD /v1/path``: how reports and errors name a route."""
    return f"{route[0]} /v1{route[1]}"


def query_of(target: str) -> dict[str, list[str]]:
    """A request target's query parameters, each with its values in order. Credentials (the parameters the
    recorder redacts, and any value it redacted) are left out: a key is not part of what a client asks for."""
    query = target.partition("?")[2]
    if not query:
        return {}
    from urllib.parse import parse_qs  # only for targets with a query: most requests have none

    return {name: values for name, values in parse_qs(query, keep_blank_values=True).items()
            if name.lower() not in SECRET_QUERY_NAMES and REDACTED not in values}


def query_difference(recorded: dict[str, list[str]], received: dict[str, list[str]]) -> str | None:
    """``starting_after: recorded 5, received 8`` for the first parameter that differs; None when equal."""
    for name in sorted(recorded.keys() | received.keys()):
        before, after = recorded.get(name), received.get(name)
        if before != after:
            return f"query {name}: recorded {_shown(before)}, received {_shown(after)}"
    return None


def _shown(values: list[str] | None) -> str:
    return "nothing" if values is None else ",".join(values)


_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class PathPattern:
    """A path with ``{name}`` parameters, each one path segment; compiled once."""

    text: str
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAMETER.split(self.text)
        # Even parts are literal text, odd parts are parameter names.
        source = "".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>[^/]+)" for n, part in enumerate(parts))
        object.__setattr__(self, "_regex", re.compile(source))

    @property
    def has_parameters(self) -> bool:
        return "{" in self.text

    def match(self, path: str) -> dict[str, str] | None:
        """The parameters of a path this pattern matches, or None."""
        found = self._regex.fullmatch(path)
        return found.groupdict() if found is not None else None


# What an endpoint's answer tells the replay about the API's state.
Shows = Literal["response", "conversation", "conversation_items"]


@dataclass(frozen=True)
class Endpoint:
    """One API operation: its name (as the openai SDK calls it), method, path pattern and role in the replay."""

    name: str
    method: str
    pattern: PathPattern
    validates: bool = False  # the request continues a conversation: its invariants are checked
    shows: Shows | None = None  # its answer shows a response or a conversation (replayer.conversation)


def _endpoint(name: str, route: str, validates: bool = False, shows: Shows | None = None) -> Endpoint:
    method, _, path = route.partition(" ")
    return Endpoint(name, method, PathPattern(path), validates, shows)


# Fixed paths before parameters: `/responses/compact` is not a response id.
ENDPOINTS: tuple[Endpoint, ...] = (
    _endpoint("responses.create", "POST /responses", validates=True, shows="response"),
    _endpoint("responses.compact", "POST /responses/compact", shows="response"),
    _endpoint("responses.input_tokens", "POST /responses/input_tokens"),
    _endpoint("responses.retrieve", "GET /responses/{response_id}", shows="response"),
    _endpoint("responses.cancel", "POST /responses/{response_id}/cancel", shows="response"),
    _endpoint("responses.delete", "DELETE /responses/{response_id}"),
    _endpoint("responses.input_items.list", "GET /responses/{response_id}/input_items"),
    _endpoint("conversations.create", "POST /conversations", shows="conversation"),
    _endpoint("conversations.retrieve", "GET /conversations/{conversation_id}"),
    _endpoint("conversations.update", "POST /conversations/{conversation_id}"),
    _endpoint("conversations.delete", "DELETE /conversations/{conversation_id}"),
    _endpoint("conversations.items.create", "POST /conversations/{conversation_id}/items", shows="conversation_items"),
    _endpoint("conversations.items.list", "GET /conversations/{conversation_id}/items", shows="conversation_items"),
    _endpoint("conversations.items.retrieve", "GET /conversations/{conversation_id}/items/{item_id}"),
    _endpoint("conversations.items.delete", "DELETE /conversations/{conversation_id}/items/{item_id}"),
    _endpoint("models.list", "GET /models"),
    _endpoint("models.retrieve", "GET /models/{model}"),
)


class EndpointMatch(NamedTuple):
    endpoint: Endpoint
    params: Mapping[str, str]


# Fixed paths answer from one lookup, with a match made once (its empty parameters are read-only).
_FIXED: dict[tuple[str, str], EndpointMatch] = {
    (e.method, e.pattern.text): EndpointMatch(e, MappingProxyType({})) for e in ENDPOINTS
    if not e.pattern.has_parameters}
_WITH_PARAMETERS = tuple(e for e in ENDPOINTS if e.pattern.has_parameters)


def endpoint_of(route: Route) -> EndpointMatch | None:
    """The known endpoint a route reaches, with its path parameters; None for any other (recorded) route.

    Azure OpenAI serves the same API under ``/openai`` (``/openai/v1/responses``), so that prefix is
    looked through."""
    fixed = _FIXED.get(route)  # the common case: one lookup, no new objects
    if fixed is not None:
        return fixed
    path = route.path
    if path.startswith("/openai/"):
        path = route_of(route.method, path[len("/openai"):]).path
        fixed = _FIXED.get((route.method, path))
        if fixed is not None:
            return fixed
    for endpoint in _WITH_PARAMETERS:
        if endpoint.method == route.method:
            params = endpoint.pattern.match(path)
            if params is not None:
                return EndpointMatch(endpoint, params)
    return None
