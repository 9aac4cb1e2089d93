"""Chains, echoed fields and --repeat: what a conversation through the replayer must see, with the openai SDK."""

from __future__ import annotations

from typing import Any

from openai import BadRequestError, OpenAI

from replayer.server import ReplayServer
from tests.replayer.builders import (
    function_call_item,
    json_exchange,
    message_item,
    request_body,
    response_obj,
    sse_exchange,
    text_events,
    tool_call_events,
    user_message,
)


def client_for(server: ReplayServer) -> OpenAI:
    return OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)


def tool_output(call_id: str, output: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def create_body(input_items: list[Any], **fields: Any) -> dict[str, Any]:
    """A non-streamed create, as `client.responses.create(...)` sends it without `stream`."""
    return {"model": "gpt-test", "input": input_items, **fields}


def test_a_chain_through_a_plain_json_response_is_valid(serve: Any) -> None:
    """A non-streamed create's body *is* the Response: its id and output items join the conversation."""
    call = function_call_item("call_1", "shell", '{"cmd": "ls"}')
    first = json_exchange("POST", "/v1/responses", response_obj("resp_1", [call]),
                          body=create_body([user_message("list files")]))
    second = json_exchange("POST", "/v1/responses", response_obj("resp_2", [message_item("m1", "two files")]),
                           body=create_body([tool_output("call_1", "a b")], previous_response_id="resp_1"))
    server = serve([first, second])
    client = client_for(server)
    answer = client.responses.create(model="gpt-test", input=[user_message("list files")])
    assert answer.id == "resp_1" and answer.output[0].type == "function_call"
    follow_up = client.responses.create(model="gpt-test", previous_response_id=answer.id,
                                        input=[tool_output("call_1", "a b")])
    assert follow_up.output_text == "two files"
    assert server.report.ok and server.report.violations == 0


def test_a_chain_through_a_streamed_response_checks_its_calls(serve: Any) -> None:
    """The chain is followed, not waved through: an output for a call the chain never made is refused."""
    first = sse_exchange(request_body([user_message("go")]), tool_call_events("resp_1", "call_1", "shell", "{}"))
    second = sse_exchange(request_body([tool_output("call_1", "ok")], previous_response_id="resp_1"),
                          text_events("resp_2", "done"))
    server = serve([first, second])
    client = client_for(server)
    with client.responses.create(model="gpt-test", input=[user_message("go")], stream=True) as stream:
        list(stream)
    try:
        client.responses.create(model="gpt-test", previous_response_id="resp_1", stream=True,
                                input=[tool_output("call_9", "ok")])
    except BadRequestError as err:
        assert "call_9" in str(err) and err.code == "rec_invariant_violation"
    else:
        raise AssertionError("an output for a call nobody made was accepted")
    assert server.report.violations == 1


def test_a_previous_response_id_the_recording_already_carried_is_valid(serve: Any) -> None:
    """The chain began before the recording: the recorded request names an id no replayed answer gave."""
    body = request_body([user_message("and then?")], previous_response_id="resp_before_recording")
    server = serve([sse_exchange(body, text_events("resp_5", "then this"))])
    with client_for(server).responses.create(model="gpt-test", input=[user_message("and then?")], stream=True,
                                             previous_response_id="resp_before_recording") as stream:
        assert [e.type for e in stream][-1] == "response.completed"
    assert server.report.ok


def test_an_unknown_previous_response_id_speaks_of_the_conversation(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "hi"))])
    try:
        client_for(server).responses.create(model="gpt-test", input=[user_message("hi")], stream=True,
                                            previous_response_id="resp_nobody_served")
    except BadRequestError as err:
        message = str(err)
    else:
        raise AssertionError("an id no response carried was accepted")
    assert "resp_nobody_served" in message and "this replay" in message and "connection" not in message


def test_echoed_fields_follow_the_client_in_sse_and_json_answers(serve: Any) -> None:
    recorded = {"prompt_cache_key": "session-recorded", "metadata": {"run": "recorded"}}
    streamed = text_events("resp_1", "hi")
    for event in streamed:
        if "response" in event:
            event["response"].update(recorded, user="recorded-user")
    plain = response_obj("resp_2", [message_item("m", "ok")]) | recorded | {"user": "recorded-user"}
    server = serve([
        sse_exchange(request_body([user_message("hi")], **recorded, user="recorded-user"), streamed),
        json_exchange("POST", "/v1/responses", plain, body=create_body([user_message("plain")], **recorded,
                                                                       user="recorded-user")),
    ])
    client = client_for(server)
    mine = {"prompt_cache_key": "session-today", "metadata": {"run": "today"}}
    with client.responses.create(model="gpt-test", input=[user_message("hi")], stream=True, **mine) as stream:
        completed = next(e for e in stream if e.type == "response.completed").response
    assert completed.prompt_cache_key == "session-today" and completed.metadata == {"run": "today"}
    # `user` was not sent this time: the recorded value stays, never a null the client did not send.
    assert completed.user == "recorded-user"
    answer = client.responses.create(model="gpt-test", input=[user_message("plain")], **mine)
    assert answer.prompt_cache_key == "session-today" and answer.metadata == {"run": "today"}
    assert answer.user == "recorded-user"


def test_body_repeat_answers_each_prompt_with_its_own_recording(serve: Any) -> None:
    prompts = [f"prompt {n}" for n in range(6)]
    exchanges = [sse_exchange(request_body([user_message(p)]), text_events(f"resp_{n}", f"answer {n}"))
                 for n, p in enumerate(prompts)]
    server = serve(exchanges, match="body", repeat=True)
    client = client_for(server)

    def ask(prompt: str) -> str:
        with client.responses.create(model="gpt-test", input=[user_message(prompt)], stream=True) as stream:
            return "".join(e.delta for e in stream if e.type == "response.output_text.delta")

    for _ in range(2):  # the second pass is all repeats
        assert [ask(p) for p in prompts] == [f"answer {n}" for n in range(6)]
    assert ask("a prompt nobody recorded") == "answer 5"  # the route's last answer, and it says so
    fallbacks = [e for e in server.report.events if e.kind == "fallback"]
    assert len(fallbacks) == 1 and "--repeat served the route's last answer" in fallbacks[0].message
    assert server.report.ok
