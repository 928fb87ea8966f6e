// Letta's node.js SDK 1.x (@letta-ai/letta-client 1.12.1), unmodified, on conversations
// and Agent Files:
//
//   node sdk_v1.mjs conversations <base_url> <api_key> <model> <embedding> <question>
//   node sdk_v1.mjs agent-files   <base_url> <api_key> <model> <embedding> <question>
//
// Each mode runs its steps and prints what it saw as JSON on its last line; a failed step
// exits 1 with the SDK's error (status and body) on stderr.
import Letta, { NotFoundError, toFile } from "@letta-ai/letta-client";

const [mode, baseURL, apiKey, model, embedding, question] = process.argv.slice(2);

function say(text) {
  console.error(text);
}

function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => part.text ?? "").join("");
  return "";
}

async function all(page) {
  const items = [];
  for await (const item of page) items.push(item);
  return items;
}

async function newAgent(client, name) {
  return client.agents.create({
    name,
    model,
    embedding,
    memory_blocks: [
      { label: "human", value: "Name: Ada" },
      { label: "persona", value: "You are a helpful assistant." },
    ],
  });
}

async function conversations(client) {
  const agent = await newAgent(client, "conversations-agent");
  const first = await client.conversations.create({ agent_id: agent.id, summary: "Trip planning" });
  const second = await client.conversations.create({ agent_id: agent.id });
  say(`conversations ${first.id} and ${second.id} of ${agent.id}`);

  const listed = (await client.conversations.list({ agent_id: agent.id })).map((c) => c.id);
  const retrieved = await client.conversations.retrieve(first.id);
  const updated = await client.conversations.update(first.id, { summary: "Lisbon trip" });
  const afterUpdate = await client.conversations.retrieve(first.id);

  const stream = await client.conversations.messages.create(first.id, {
    messages: [{ role: "user", content: question }],
    streaming: true,
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const streamedReplies = chunks
    .filter((c) => c.message_type === "assistant_message")
    .map((c) => textOf(c.content));
  say(`streamed: ${chunks.map((c) => c.message_type).join(", ")}`);

  const history = await all(await client.conversations.messages.list(first.id));
  const otherHistory = await all(await client.conversations.messages.list(second.id));

  await client.conversations.delete(second.id);
  const listedAfterDelete = (await client.conversations.list({ agent_id: agent.id })).map(
    (c) => c.id,
  );
  let deletedStatus = null;
  try {
    await client.conversations.retrieve(second.id);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    deletedStatus = error.status;
  }

  return {
    agentId: agent.id,
    first: first.id,
    second: second.id,
    firstAgentId: first.agent_id,
    listed,
    retrieved: { id: retrieved.id, agentId: retrieved.agent_id, summary: retrieved.summary },
    updatedSummary: updated.summary,
    summaryAfterUpdate: afterUpdate.summary,
    chunkTypes: chunks.map((c) => c.message_type),
    runIds: [...new Set(chunks.map((c) => c.run_id).filter(Boolean))],
    streamedReplies,
    history: history.map((m) => ({ type: m.message_type, text: textOf(m.content) })),
    otherHistory: otherHistory.map((m) => m.message_type),
    listedAfterDelete,
    deletedStatus,
  };
}

async function agentFiles(client) {
  const agent = await newAgent(client, "agent-file-source");
  const response = await client.agents.messages.create(agent.id, {
    messages: [{ role: "user", content: question }],
  });
  say(`chatted: ${response.messages.map((m) => m.message_type).join(", ")}`);

  const exported = await client.agents.exportFile(agent.id);
  const text = typeof exported === "string" ? exported : JSON.stringify(exported);
  const schema = JSON.parse(text);
  say(`exported ${text.length} characters: agents ${schema.agents?.length}`);

  const file = await toFile(Buffer.from(text), "agent-file-source.af", {
    type: "application/json",
  });
  const imported = await client.agents.importFile({ file });
  say(`imported ${JSON.stringify(imported.agent_ids)}`);
  const [copyId] = imported.agent_ids;
  const copy = await client.agents.retrieve(copyId, { include: ["agent.blocks"] });
  const copyHistory = await all(await client.agents.messages.list(copyId));

  return {
    agentId: agent.id,
    exportedAgents: (schema.agents ?? []).map((a) => a.name),
    exportedBlocks: (schema.blocks ?? []).map((b) => [b.label, b.value]),
    importedIds: imported.agent_ids,
    copy: {
      id: copy.id,
      name: copy.name,
      system: copy.system,
      model: copy.llm_config?.model,
      blocks: (copy.blocks ?? []).map((b) => [b.label, b.value]).sort(),
    },
    originalSystem: (await client.agents.retrieve(agent.id)).system,
    copyHistory: copyHistory.map((m) => ({ type: m.message_type, text: textOf(m.content) })),
  };
}

const modes = { conversations, "agent-files": agentFiles };

try {
  const client = new Letta({ baseURL, apiKey, maxRetries: 0 });
  const seen = await modes[mode](client);
  console.log(JSON.stringify(seen));
} catch (error) {
  console.error(error?.stack ?? error);
  if (error?.status !== undefined) console.error(`status: ${error.status}`);
  if (error?.error !== undefined) console.error(`body: ${JSON.stringify(error.error)}`);
  process.exit(1);
}
