"""A response assembled from its events the way a client does: items opened, grown by deltas, closed."""

from __future__ import annotations

from rec.synth import events as ev
from rec.view.conversation import assemble, from_body, input_items, last_user_text, request_facts


def items(events: list[dict]) -> list[dict]:
    return [out["item"] for out in assemble(events).output()]


def test_text_deltas_grow_the_open_message_and_the_done_item_replaces_it() -> None:
    streamed = assemble([ev.ev_response_created("r1"), ev.ev_message_item_added("m1", ""),
                         ev.ev_output_text_delta("Hel"), ev.ev_output_text_delta("lo")])
    assert streamed.output() == [{"item": {"type": "message", "role": "assistant", "id": "m1",
                                           "content": [{"type": "output_text", "text": "Hello"}]}, "done": False}]
    assert streamed.summary() == {"id": "r1", "status": "in_progress"}
    done = assemble([ev.ev_response_created("r1"), ev.ev_message_item_added("m1", ""), ev.ev_output_text_delta("x"),
                     ev.ev_assistant_message("m1", "Hello there"), ev.ev_completed("r1")])
    assert [o["done"] for o in done.output()] == [True]
    assert done.items[0]["content"][0]["text"] == "Hello there"
    assert done.summary()["status"] == "completed"


def test_indexed_events_address_their_item_and_part() -> None:
    events = [
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "reasoning", "id": "rs", "summary": []}},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {"type": "function_call", "id": "fc", "call_id": "c1", "name": "shell", "arguments": ""}},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs", "summary_index": 0, "delta": "Think"},
        {"type": "response.function_call_arguments.delta", "item_id": "fc", "output_index": 1, "delta": '{"cmd":'},
        {"type": "response.function_call_arguments.delta", "item_id": "fc", "output_index": 1, "delta": '"ls"}'},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs", "summary_index": 0, "delta": "ing"},
    ]
    reasoning, call = items(events)
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Thinking"}]
    assert call["arguments"] == '{"cmd":"ls"}'


def test_the_terminal_events_output_is_the_last_word() -> None:
    final = {"type": "message", "role": "assistant", "id": "m", "content": [{"type": "output_text", "text": "final"}]}
    assembly = assemble([ev.ev_message_item_added("m", ""), ev.ev_output_text_delta("draft"),
                         {"type": "response.completed", "response": {"id": "r", "status": "completed",
                                                                      "output": [final]}}])
    assert assembly.output() == [{"item": final, "done": True}]


def test_items_done_without_an_added_event_are_appended_in_order() -> None:
    produced = items([ev.ev_response_created("r"), ev.ev_web_search_call_done("ws", "completed", "weather"),
                      ev.ev_function_call("c1", "shell", "{}"), ev.ev_custom_tool_call("c2", "apply_patch", "patch"),
                      ev.ev_completed("r")])
    assert [i["type"] for i in produced] == ["web_search_call", "function_call", "custom_tool_call"]


def test_custom_tool_input_deltas_and_a_delta_with_no_open_item() -> None:
    produced = items([{"type": "response.custom_tool_call_input.delta", "delta": "*** Begin"},
                      {"type": "response.custom_tool_call_input.delta", "delta": " Patch"},
                      ev.ev_output_text_delta("text after")])
    assert produced == [{"type": "custom_tool_call", "input": "*** Begin Patch"},
                        {"type": "message", "role": "assistant",
                         "content": [{"type": "output_text", "text": "text after"}]}]


def test_the_events_themselves_are_left_as_received() -> None:
    added = ev.ev_message_item_added("m", "")
    assemble([added, ev.ev_output_text_delta("grown")])
    assert added["item"]["content"] == [{"type": "output_text", "text": ""}]


def test_failures_and_error_events() -> None:
    failed = assemble([{"type": "response.failed", "response": {"id": "r", "error": {"code": "server_error"}}}])
    assert failed.summary() == {"id": "r", "status": "failed", "error": {"code": "server_error"}}
    errored = assemble([ev.ev_response_created("r"), {"type": "error", "error": {"code": "rate_limit_exceeded"}}])
    assert errored.summary()["error"] == {"code": "rate_limit_exceeded"}


def test_a_whole_json_answer() -> None:
    compacted = from_body({"output": [{"type": "compaction", "encrypted_content": "x"}]})
    assert compacted.output() == [{"item": {"type": "compaction", "encrypted_content": "x"}, "done": True}]
    assert from_body({"error": {"code": "bad"}}).summary() == {"error": {"code": "bad"}}
    assert from_body("not an object").output() == []


def test_request_input_and_facts() -> None:
    assert input_items({"input": "hi"}) == [{"type": "message", "role": "user",
                                             "content": [{"type": "input_text", "text": "hi"}]}]
    said = input_items({"input": [ev.user_message_item("first"), {"type": "function_call_output", "call_id": "c"},
                                  ev.user_message_item("second"), "not an item"]})
    assert len(said) == 3
    assert last_user_text(said) == "second"
    assert request_facts({"model": "m", "tools": [{"type": "function", "name": "shell"}, {"type": "web_search"}],
                          "generate": False, "input": []}) == {"model": "m", "generate": False,
                                                               "tools": ["shell", "web_search"]}
