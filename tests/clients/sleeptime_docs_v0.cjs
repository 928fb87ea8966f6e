// The node.js examples of Letta's sleep-time docs, step by step, with the SDK of their
// era (@letta-ai/letta-client 0.1.132, installed as "letta-client-0"):
//
//   node sleeptime_docs_v0.cjs <base_url> <api_key> <pdf> <model> <embedding> <question>
//
// Creates a sleep-time agent, sets its group's frequency to 2, creates a source, attaches
// it, uploads the PDF as the docs do (a nameless Blob), waits for the upload's job, then
// asks the agent a question. Prints what it saw as JSON on its last line; exits 1 with
// the error when a step fails. The docs call upload(source.id, file): that is their slip,
// the SDK's signature is upload(file, sourceId), and this script follows the SDK.
"use strict";

const { readFileSync } = require("fs");
const { LettaClient } = require("letta-client-0");

const [baseUrl, token, pdfPath, model, embedding, question] = process.argv.slice(2);
const JOB_TIMEOUT_MS = 40000;

function say(text) {
  console.error(text);
}

async function main() {
  const client = new LettaClient({ baseUrl, token });

  const agent = await client.agents.create({
    memoryBlocks: [
      { value: "", label: "human" },
      { value: "You are a helpful assistant.", label: "persona" },
    ],
    model,
    embedding,
    enableSleeptime: true,
  });
  say(`Created agent id ${agent.id}`);
  const groupId = agent.multiAgentGroup.id;
  const frequencyBefore = agent.multiAgentGroup.sleeptimeAgentFrequency;
  say(`Group id: ${groupId}, frequency: ${frequencyBefore}`);

  // The docs cast { sleeptimeAgentFrequency } to SleeptimeManagerUpdate; that is a type
  // only, and the SDK's serializer wants the union's tag, so it is given here.
  const group = await client.groups.modify(groupId, {
    managerConfig: { managerType: "sleeptime", sleeptimeAgentFrequency: 2 },
  });
  say(`Group frequency now ${group.sleeptimeAgentFrequency}`);

  const source = await client.sources.create({
    name: "employee_handbook",
    description: "Provides reference information for the employee handbook",
    embedding,
  });
  say(`Created source ${source.id}`);
  await client.agents.sources.attach(agent.id, source.id);

  const file = new Blob([readFileSync(pdfPath)]);
  let job = await client.sources.files.upload(file, source.id);
  say(`Upload answered job ${job.id} (${job.status})`);
  const statuses = [job.status];
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  while (job.status !== "completed") {
    if (job.status === "failed") throw new Error(`the job failed: ${JSON.stringify(job)}`);
    if (Date.now() > deadline) throw new Error(`job still ${job.status} after ${JOB_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    job = await client.jobs.retrieve(job.id);
    if (statuses[statuses.length - 1] !== job.status) statuses.push(job.status);
  }
  say(`Job statuses: ${statuses.join(" -> ")}`);

  const files = await client.sources.files.list(source.id);
  const block = await client.agents.blocks.retrieve(agent.id, "employee_handbook");

  const response = await client.agents.messages.create(agent.id, {
    messages: [{ role: "user", content: question }],
  });
  const replies = response.messages
    .filter((message) => message.messageType === "assistant_message")
    .map((message) => message.content);
  say(`Replies: ${JSON.stringify(replies)}`);

  console.log(
    JSON.stringify({
      agentId: agent.id,
      groupId,
      frequencyBefore,
      frequencyAfter: group.sleeptimeAgentFrequency,
      sourceId: source.id,
      jobId: job.id,
      jobStatuses: statuses,
      files: files.map((f) => ({ name: f.fileName, type: f.fileType, status: f.processingStatus })),
      blockValue: block.value,
      replies,
      stopReason: response.stopReason && response.stopReason.stopReason,
    }),
  );
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  if (error && error.body !== undefined) console.error(`body: ${JSON.stringify(error.body)}`);
  if (error && error.statusCode !== undefined) console.error(`status: ${error.statusCode}`);
  process.exit(1);
});
