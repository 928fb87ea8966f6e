// The few things htmx does not do for the ADE.
"use strict";

// The chat log hears of a turn twice: each message over the websocket as it is stored, and
// the whole turn in the answer to the form. Whichever copy of an item came second goes,
// unless the first is the draft of a reply that was being written: the stored message
// then takes the draft's place.
function dropRepeatedItems(log) {
  const seen = new Map();
  for (const item of Array.from(log.children)) {
    if (!item.id) continue;
    const first = seen.get(item.id);
    if (!first) {
      seen.set(item.id, item);
    } else if (first.hasAttribute("data-draft") && !item.hasAttribute("data-draft")) {
      first.replaceWith(item);
      seen.set(item.id, item);
    } else {
      item.remove();
    }
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

// A live update swaps in a fresh copy of what it changed. If that held the keyboard focus
// (say the Edit button of a block just saved), or was about to get it from htmx's
// autofocus, the focus moves to the fresh copy, found by id, instead of being lost.
let autofocusPending = null; // between a swap and the settle step that focuses [autofocus]
let restoreId = null;

document.addEventListener("htmx:afterSwap", (event) => {
  const root = event.target.id ? document.getElementById(event.target.id) : null;
  const wanted = root && (root.matches("[autofocus][id]") ? root : root.querySelector("[autofocus][id]"));
  autofocusPending = wanted ? wanted.id : null;
});
document.addEventListener("htmx:afterSettle", () => {
  autofocusPending = null;
});
document.addEventListener("htmx:oobBeforeSwap", (event) => {
  const active = document.activeElement;
  restoreId = null;
  if (active && active !== document.body && active.id && event.target.contains(active)) {
    restoreId = active.id;
  } else if (autofocusPending && event.target.querySelector(`#${CSS.escape(autofocusPending)}`)) {
    restoreId = autofocusPending;
  }
});
document.addEventListener("htmx:oobAfterSwap", () => {
  if (!restoreId) return;
  const again = document.getElementById(restoreId);
  restoreId = null;
  if (again) again.focus({ preventScroll: true });
});

document.addEventListener("DOMContentLoaded", watchChatLog);
