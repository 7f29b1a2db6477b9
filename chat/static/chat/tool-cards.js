// Tool cards on the chat page: one card per tool call of a reply (tool.started, then tool.finished),
// folded open or shut by its header, showing the arguments, the state and duration, the result (a long
// one cut, with "Show all") and, when the server asks, Allow / Deny (tool.confirmation_requested).
// Loaded before chat.js, which calls it through `window.chatPage.toolCards` (below) and hands it the
// page's shared helpers on `window.chatPage` (documented in chat.js).
(function () {
  "use strict";

  const page = (window.chatPage = window.chatPage || {});
  const cards = new Map(); // seq -> card element (call ids need not be unique across turns)

  function renderCard(frame) {
    const card = page.el("article", { class: "tool-card", "data-testid": "tool-card", "data-seq": String(frame.seq), "data-state": "running" });
    card.setAttribute("aria-label", "Tool call " + (frame.title || frame.name));
    const bodyId = "tool-body-" + frame.seq;
    const toggle = page.el("button", { type: "button", class: "tool-toggle", "aria-expanded": "true", "aria-controls": bodyId });
    toggle.appendChild(page.el("span", { class: "tool-name" }, frame.title || frame.name));
    toggle.appendChild(page.el("span", { class: "tool-server" }, frame.server));
    toggle.appendChild(page.el("span", { class: "tool-state" }, "running"));
    toggle.addEventListener("click", () => toggleCard(card, toggle));
    const body = page.el("div", { class: "tool-body", id: bodyId });
    body.appendChild(page.el("code", { class: "tool-qualified-name" }, frame.name));
    body.appendChild(page.el("h3", { class: "tool-heading" }, "Arguments"));
    body.appendChild(page.el("pre", { class: "tool-arguments" }, JSON.stringify(frame.arguments || {}, null, 2)));
    card.appendChild(toggle);
    card.appendChild(body);
    page.append(card);
    page.items.set(frame.seq, { el: card, role: "tool", text: "" });
    cards.set(frame.seq, card);
    return card;
  }

  function toggleCard(card, toggle) {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    card.querySelector(".tool-body").hidden = !open;
  }

  function cardFor(frame) {
    const card = cards.get(frame.seq);
    return card && card.isConnected ? card : renderCard(frame); // a card of a branch no longer shown is rendered again
  }

  function setCardState(card, stateName, label) {
    card.dataset.state = stateName;
    card.querySelector(".tool-state").textContent = label;
  }

  // How long the call took, beside its state: "85 ms", "2.4 s".
  function setCardDuration(card, ms) {
    let span = card.querySelector(".tool-duration");
    if (typeof ms !== "number") {
      if (span) span.remove();
      return;
    }
    if (!span) {
      span = page.el("span", { class: "tool-duration" });
      card.querySelector(".tool-state").before(span);
    }
    span.textContent = ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + " s";
    span.setAttribute("title", "Duration of the call");
  }

  function onToolStarted(frame) {
    setCardState(cardFor(frame), "running", "running");
    page.setBusy(true);
  }

  function onConfirmationRequested(frame) {
    const card = cardFor(frame);
    setCardState(card, "confirming", "waiting for your approval");
    let box = card.querySelector(".tool-confirm");
    if (box) box.remove();
    box = page.el("div", { class: "tool-confirm", role: "group", "aria-label": "Allow " + frame.name + "?" });
    box.appendChild(page.el("p", {}, "Allow this tool to run?"));
    const allow = page.el("button", { type: "button", class: "button button-primary" }, "Allow");
    const deny = page.el("button", { type: "button", class: "button button-quiet" }, "Deny");
    allow.addEventListener("click", () => answerConfirmation(frame, true, box));
    deny.addEventListener("click", () => answerConfirmation(frame, false, box));
    box.appendChild(allow);
    box.appendChild(deny);
    card.querySelector(".tool-body").appendChild(box);
  }

  function answerConfirmation(frame, allow, box) {
    const sent = page.sendFrame({ type: "tool.confirm", conversation_id: frame.conversation_id, call_id: frame.call_id, allow: allow });
    if (sent) box.querySelectorAll("button").forEach((button) => (button.disabled = true));
  }

  function onToolFinished(frame) {
    const stick = page.nearBottom();
    const card = cardFor(frame);
    const confirm = card.querySelector(".tool-confirm");
    if (confirm) confirm.remove();
    const label = frame.is_error ? (frame.kind && frame.kind !== "error" ? "error: " + frame.kind : "error") : "done";
    setCardState(card, frame.is_error ? "error" : "done", label);
    setCardDuration(card, frame.duration_ms);
    let result = card.querySelector(".tool-result");
    if (!result) {
      card.querySelector(".tool-body").appendChild(page.el("h3", { class: "tool-heading" }, frame.is_error ? "Error" : "Result"));
      result = page.el("pre", { class: "tool-result" });
      card.querySelector(".tool-body").appendChild(result);
    }
    showResult(card, result, frame.result || "");
    page.noteFinal(frame.seq);
    page.keepScrolled(stick);
  }

  // A long result shows its start and says how much more there is; "Show all" opens the rest (it is all stored).
  const CARD_RESULT_CHARS = 2000;

  function showResult(card, result, text) {
    const old = card.querySelector(".tool-more");
    if (old) old.remove();
    if (text.length <= CARD_RESULT_CHARS) {
      result.textContent = text;
      return;
    }
    result.textContent = text.slice(0, CARD_RESULT_CHARS);
    const more = page.el("p", { class: "tool-more" });
    const hidden = text.length - CARD_RESULT_CHARS;
    more.appendChild(page.el("span", {}, "… (" + hidden.toLocaleString("en") + " characters more)"));
    const button = page.el("button", { type: "button", class: "button button-quiet" }, "Show all");
    button.addEventListener("click", () => {
      result.textContent = text;
      more.remove();
    });
    more.appendChild(button);
    result.after(more);
  }

  page.toolCards = {
    handlers: {
      "tool.started": onToolStarted,
      "tool.confirmation_requested": onConfirmationRequested,
      "tool.finished": onToolFinished,
    },
  };
})();
