// A Node test (node:test + the official openai SDK) driving a `rec serve` session end to end,
// with no Python in the test: the session's answers are a scenario given as JSON events.
//
//   rec serve &                                   # prints its control URL
//   REC_SERVE_URL=http://127.0.0.1:PORT node --test examples/node-serve/
//
// Without REC_SERVE_URL the test starts `rec serve` itself (REC_COMMAND, default `rec`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import OpenAI from "openai";

let control = process.env.REC_SERVE_URL;
let server;

async function rec(method, path, body) {
  const response = await fetch(`${control}/__rec${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${response.status} ${answer.error.code}: ${answer.error.message}`);
  return answer;
}

before(async () => {
  if (control) return;
  const [command, ...args] = (process.env.REC_COMMAND ?? "rec").split(" ");
  server = spawn(command, [...args, "serve", "--quiet"], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: server.stdout });
  control = (await lines[Symbol.asyncIterator]().next()).value.trim();
});

after(() => server?.kill("SIGTERM"));

const events = (id, text) => [
  { type: "response.created", response: { id } },
  { type: "response.output_item.added", output_index: 0,
    item: { type: "message", role: "assistant", id: "m", content: [] } },
  { type: "response.output_text.delta", item_id: "m", output_index: 0, content_index: 0, delta: text },
  { type: "response.output_item.done", output_index: 0,
    item: { type: "message", role: "assistant", id: "m", content: [{ type: "output_text", text }] } },
  { type: "response.completed", response: { id } },
];

test("a session answers the SDK from a JSON scenario, and reports what it saw", async () => {
  const session = await rec("POST", "/sessions", {
    match: "body",
    scenario: { exchanges: [{ kind: "sse", request: { model: "gpt-test", input: "hello from node", stream: true },
                              events: events("resp_node", "Hello, Node.") }] },
  });
  const client = new OpenAI({ baseURL: session.base_url, apiKey: "sk-test", maxRetries: 0 });
  let text = "";
  const stream = await client.responses.create({ model: "gpt-test", input: "hello from node", stream: true });
  for await (const event of stream) {
    if (event.type === "response.output_text.delta") text += event.delta;
  }
  assert.equal(text, "Hello, Node.");

  const journal = await rec("GET", `/sessions/${session.id}/requests`);
  assert.equal(journal.requests[0].body.input, "hello from node");
  const report = await rec("DELETE", `/sessions/${session.id}`);
  assert.deepEqual(report.summary, { served: 1, unmatched: 0, unused: 0, unconsumed: 0, violations: 0, drifted: 0 });
});
