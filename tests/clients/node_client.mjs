// The official openai Node SDK doing what the Python tests check it replays: a streamed create, the
// responses.stream() helper, a non-streamed create chained by previous_response_id, models.list(),
// and the Responses WebSocket mode (two chained turns; with permessage-deflate when asked).
// Usage: node node_client.mjs BASE_URL [http|websocket|websocket-deflate]; prints what it saw as JSON.
import OpenAI from "openai";
import { ResponsesWS } from "openai/resources/responses/ws";

const [baseURL, mode = "http"] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "sk-test-node-0123456789", maxRetries: 0 });
const seen = {};

async function overHttp() {
  let text = "";
  const stream = await client.responses.create({ model: "gpt-test", input: "hello, streamed", stream: true });
  for await (const event of stream) if (event.type === "response.output_text.delta") text += event.delta;
  seen.streamed = text;

  const helper = client.responses.stream({ model: "gpt-test", input: "hello, helper" });
  seen.helper = (await helper.finalResponse()).output_text;

  const first = await client.responses.create({ model: "gpt-test", input: "first, whole" });
  const second = await client.responses.create({ model: "gpt-test", input: "second, chained",
                                                 previous_response_id: first.id });
  seen.chained = [first.output_text, second.output_text, second.previous_response_id === first.id];

  seen.models = (await client.models.list()).data.map((model) => model.id);
}

async function overWebSocket(deflate) {
  const socket = new ResponsesWS(client, deflate ? { perMessageDeflate: true } : {});
  const events = socket.stream();
  const turn = async (input, previous) => {
    socket.send({ type: "response.create", model: "gpt-test", input, ...(previous ? { previous_response_id: previous } : {}) });
    let text = "";
    for (;;) {
      const { value } = await events.next();
      if (value.type === "error" || value.type === "close") {
        throw new Error(`socket ${value.type}: ${JSON.stringify(value.error ?? value)}`);
      }
      if (value.type !== "message") continue; // connecting, open: the socket's lifecycle
      const event = value.message;
      if (event.type === "error") throw new Error(JSON.stringify(event));
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed") return [event.response.id, text];
    }
  };
  const [firstId, firstText] = await turn("first over the socket");
  const [, secondText] = await turn("second over the socket", firstId);
  seen.websocket = [firstText, secondText];
  socket.close();
}

if (mode === "http") await overHttp();
else await overWebSocket(mode === "websocket-deflate");
console.log(JSON.stringify(seen));
