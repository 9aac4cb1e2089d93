"""Many recordings through one recorder: each client's traffic, under a prefix of its own, to a cassette of its own.

`rec record --routes` starts no recording by itself. A control request opens one:
``POST /__rec/recordings {"output": PATH, "redact": [RULE...]}`` answers
``{"id", "base_url"}``, and a client whose base URL is ``base_url`` (``/r/ID/v1``) is
recorded into PATH, the prefix taken off before the request goes upstream, with the
recorder's usual guarantees (redaction, an exchange written as it finishes). ``DELETE
/__rec/recordings/ID`` waits for that client's unfinished exchanges, closes its cassette and
answers what it recorded. This is how the pytest plugin records a whole run through one
recorder instead of starting one per test.

Control requests must carry the secret the recorder was started with (the environment
variable ``REC_RECORDER_SECRET``): any local process can reach the port, and a recording
writes files. Each recording is one ``RecordAddon`` whose scope is its own flows, so
everything that addon promises holds per recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mitmproxy import http

from rec.cassette import CassetteWriter, Exchange, Header, WebSocketPart
from rec.locking import CassetteLocked
from rec.redaction import RedactionRuleError, Rules
from recorder.addon import RecordAddon
from recorder.redact import Redactor

CONTROL = "/__rec/recordings"
PREFIX = "/r/"
SECRET_VARIABLE = "REC_RECORDER_SECRET"
SECRET_HEADER = "x-rec-recorder-secret"
# How long closing a recording waits for its client's unfinished exchanges (a stream still flowing).
CLOSE_WAIT_S = 30.0
RECORDING = "rec_recording"  # the flow metadata key naming the recording a flow belongs to


@dataclass
class Recording:
    """One client's recording: its cassette writer, its addon, and what it recorded."""

    id: str
    output: Path
    writer: CassetteWriter
    addon: RecordAddon
    flows: set[str] = field(default_factory=set)  # flows seen and not finished yet
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # set while no flow is unfinished

    def __post_init__(self) -> None:
        self.settled.set()

    def began(self, flow_id: str) -> None:
        self.flows.add(flow_id)
        self.settled.clear()

    def ended(self, flow_id: str) -> None:
        self.flows.discard(flow_id)
        if not self.flows:
            self.settled.set()


class RecordingRouter:
    """A mitmproxy addon, first in line: answers control requests and routes each prefixed flow to its recording.

    ``add_addon``/``remove_addon`` put a recording's RecordAddon in mitmproxy's chain and take it out;
    ``on_exchange`` is told of every exchange written and ``lose`` of every one that could not be (the tally
    and the log).
    """

    def __init__(self, upstream: str | None, rules: Rules, secret: str,
                 add_addon: Callable[[RecordAddon], None], remove_addon: Callable[[RecordAddon], None],
                 on_exchange: Callable[[Exchange | WebSocketPart], None], lose: Callable[[str, str], None]) -> None:
        self.upstream = upstream
        self.rules = rules
        self.secret = secret
        self.add_addon, self.remove_addon, self.on_exchange, self.lose = add_addon, remove_addon, on_exchange, lose
        self.recordings: dict[str, Recording] = {}
        self.origin = ""  # where clients reach the recorder (http://HOST:PORT), set once it listens

    # --- hooks ------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """A recording's flow loses its prefix and is marked as its, before any recording addon looks at it."""
        path = flow.request.path
        recording_id, _, rest = path.removeprefix(PREFIX).partition("/")
        recording = self.recordings.get(recording_id) if path.startswith(PREFIX) else None
        if recording is not None:
            flow.request.path = "/" + rest
            flow.metadata[RECORDING] = recording_id
            recording.began(flow.id)

    async def request(self, flow: http.HTTPFlow) -> None:
        """A control request is answered here, its body in; a flow of no recording is a 404, never forwarded."""
        if RECORDING in flow.metadata:
            return
        path = flow.request.path
        if path.startswith(CONTROL):
            flow.response = await self._control(flow)
        else:
            flow.response = _json(404, {"error": f"no recording here for {path[:200]!r}: use the base_url a "
                                                 f"{CONTROL} request answered"})

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:  # a WebSocket's 101 is its beginning; websocket_end is its end
            self._finished(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finished(flow)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._finished(flow)

    def _finished(self, flow: http.HTTPFlow) -> None:
        recording = self.recordings.get(flow.metadata.get(RECORDING, ""))
        if recording is not None:
            recording.ended(flow.id)

    # --- the control API --------------------------------------------------------------

    async def _control(self, flow: http.HTTPFlow) -> http.Response:
        request = flow.request
        if not secrets.compare_digest(request.headers.get(SECRET_HEADER, ""), self.secret):
            return _json(403, {"error": f"control requests need the {SECRET_HEADER} header the recorder was "
                                        f"started with ({SECRET_VARIABLE})"})
        rest = request.path.partition("?")[0].removeprefix(CONTROL).strip("/")
        if request.method == "POST" and not rest:
            return self._open(request)
        if request.method == "DELETE" and rest in self.recordings:
            return _json(200, await self.close(rest))
        return _json(404, {"error": f"{request.method} {request.path[:200]}: the control API has POST {CONTROL} "
                                    f"and DELETE {CONTROL}/ID (of a recording still open)"})

    def _open(self, request: http.Request) -> http.Response:
        try:
            options = json.loads(request.get_content() or b"{}")
            output = Path(options["output"])
            rules = self.rules.with_rules(list(options.get("redact") or []))
        except (ValueError, KeyError, TypeError, RedactionRuleError) as err:
            return _json(400, {"error": f"a recording needs {{\"output\": PATH, \"redact\": [RULE...]}}: {err}"})
        if not output.is_absolute() or not output.parent.is_dir():
            return _json(400, {"error": f"output {str(output)!r} must be an absolute path in an existing folder"})
        try:
            writer = CassetteWriter.create(output, Header(upstream=self.upstream), wait=False)
        except CassetteLocked as err:
            return _json(409, {"error": str(err)})
        except OSError as err:
            return _json(400, {"error": f"cannot write {output}: {err.strerror or err}"})
        recording_id = secrets.token_hex(6)

        def append(exchange: Exchange | WebSocketPart) -> None:
            writer.append(exchange)
            self.on_exchange(exchange)

        addon = _RecordingAddon(recording_id, append, Redactor(rules),
                                lambda flow: flow.metadata.get(RECORDING) == recording_id, self.lose)
        recording = Recording(recording_id, output, writer, addon)
        self.recordings[recording_id] = recording
        self.add_addon(addon)
        return _json(201, {"id": recording_id, "base_url": f"{self.origin}{PREFIX}{recording_id}/v1"})

    async def close(self, recording_id: str) -> dict[str, Any]:
        """Wait for the recording's unfinished exchanges (up to CLOSE_WAIT_S), then close its cassette; the wait
        ends the moment the last of them is written."""
        recording = self.recordings[recording_id]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recording.settled.wait(), CLOSE_WAIT_S)
        del self.recordings[recording_id]
        self.remove_addon(recording.addon)
        recording.writer.close()
        return {"id": recording_id, "output": str(recording.output), "unfinished": len(recording.flows)}

    async def close_all(self) -> None:
        for recording_id in list(self.recordings):
            await self.close(recording_id)


class _RecordingAddon(RecordAddon):
    """The addon of one recording; mitmproxy tells addons apart by ``name``."""

    def __init__(self, recording_id: str, *args: Any) -> None:
        super().__init__(*args)
        self.name = f"recording-{recording_id}"


def _json(status: int, body: dict[str, Any]) -> http.Response:
    return http.Response.make(status, json.dumps(body), {"content-type": "application/json"})

