// The few things htmx does not do for the ADE.
"use strict";

// The chat log hears of a turn twice: each message over the websocket as it is stored, and
// the whole turn in the answer to the form. Whichever copy of an item came second goes.
function dropRepeatedItems(log) {
  const seen = new Set();
  for (const item of Array.from(log.children)) {
    if (!item.id) continue;
    if (seen.has(item.id)) item.remove();
    else seen.add(item.id);
  }
}

function watchChatLog() {
  const log = document.getElementById("chat-log");
  if (!log) return;
  new MutationObserver(() => dropRepeatedItems(log)).observe(log, { childList: true });
}

// Ctrl+Enter (or Cmd+Enter) in the message box sends it, like the Send button.
document.addEventListener("keydown", (event) => {
  const box = event.target;
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  if (!(box instanceof HTMLTextAreaElement) || !box.form || box.form.id !== "message-form") return;
  event.preventDefault();
  box.form.requestSubmit();
});

document.addEventListener("DOMContentLoaded", watchChatLog);
