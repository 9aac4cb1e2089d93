// The OpenAI Agents SDK for JS (npm @openai/agents): an agent with a function tool whose state is kept in an
// OpenAI conversation (run(..., { conversationId })), so the second request sends only the tool's output.
// Usage: node agents_client.mjs BASE_URL; prints what it saw as JSON.
import { Agent, run, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled, tool } from "@openai/agents";
import OpenAI from "openai";
import { z } from "zod";

const [baseURL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "sk-test-agents-0123456789", maxRetries: 0 });
setDefaultOpenAIClient(client);
setOpenAIAPI("responses");
setTracingDisabled(true); // traces would go to api.openai.com

const execCommand = tool({
  name: "exec_command",
  description: "Run a shell command and return what it printed.",
  parameters: z.object({ cmd: z.string() }),
  execute: async ({ cmd }) => (cmd === "echo hi" ? "hi" : "?"),
});
const agent = new Agent({ name: "helper", instructions: "Use the tool.", tools: [execCommand], model: "gpt-test" });
const conversation = await client.conversations.create({});
const result = await run(agent, "run it", { conversationId: conversation.id });
console.log(JSON.stringify({ output: result.finalOutput, items: result.newItems.map((item) => item.type) }));
