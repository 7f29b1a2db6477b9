// The chat page: one WebSocket per tab speaking docs/protocol.md. Text goes in with textContent;
// the only HTML inserted is the server's sanitized `html` of assistant.completed.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const RECONNECT_BASE_MS = 500;
  const RECONNECT_MAX_MS = 10000;
  const SESSION_ENDED = 4401;
  // Close codes the server sends with a reason worth telling the person (docs/protocol.md).
  const CLOSE_NOTICES = {
    1007: "The connection was closed because the last message was not valid text.",
    1009: "The connection was closed: message too large.",
  };

  const dom = {
    messages: document.getElementById("messages"),
    empty: document.getElementById("empty-state"),
    composer: document.getElementById("composer"),
    input: document.getElementById("composer-input"),
    send: document.getElementById("send"),
    stop: document.getElementById("stop"),
    connection: document.getElementById("connection"),
    notice: document.getElementById("notice"),
    conversations: document.getElementById("conversation-list"),
    conversationsEmpty: document.getElementById("conversation-list-empty"),
    participants: document.getElementById("participants"),
    picker: document.getElementById("persona-picker"),
    rounds: document.getElementById("rounds"),
    typing: document.getElementById("typing"),
    jump: document.getElementById("jump-latest"),
    record: document.getElementById("record"),
    recording: document.getElementById("recording"),
    recordingTime: document.getElementById("recording-time"),
    recordingLevel: document.getElementById("recording-level"),
    recordingCancel: document.getElementById("recording-cancel"),
    speak: document.getElementById("speak-replies"),
  };

  const state = {
    conversationId: config.conversationId,
    socket: null,
    attempts: 0,
    reconnectTimer: null,
    busy: false,
    lastFinalSeq: 0,
    items: new Map(), // seq -> {el, role, text}
    cards: new Map(), // seq -> card element (call ids need not be unique across turns)
    pending: new Map(), // client_id -> {el, frame} until message.created
    queue: [], // [{text, el}] typed while a reply was written; sent one at a time after it
    clientCounter: 0,
    // Long conversations arrive newest first, a page at a time (docs/protocol.md "Long conversations").
    earlier: { firstSeq: null, more: false, loading: false, button: null, heightBefore: 0 },
    leaving: false,
    closeNotice: "",
  };

  // --- small DOM helpers ---------------------------------------------------------------------

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => node.setAttribute(name, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function nearBottom() {
    const box = dom.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function append(node) {
    dom.empty.hidden = true;
    const stick = nearBottom();
    place(node);
    if (stick && !state.earlier.loading) dom.messages.scrollTop = dom.messages.scrollHeight;
    else showJump();
  }

  // "Jump to latest": while the person reads further up, new text does not move the log; this shows.
  function showJump() {
    if (dom.jump) dom.jump.hidden = nearBottom();
  }

  function jumpToLatest() {
    dom.messages.scrollTop = dom.messages.scrollHeight;
    dom.jump.hidden = true;
    dom.input.focus();
  }

  // Items stay in seq order whatever order their frames come in (an older page arrives after the newest).
  function place(node) {
    const seq = node.dataset.seq ? Number(node.dataset.seq) : null;
    const children = dom.messages.children;
    if (seq === null) {
      dom.messages.appendChild(node);
      return;
    }
    for (let i = children.length - 1; i >= 0; i -= 1) {
      const other = children[i].dataset.seq;
      if (other && Number(other) < seq) {
        dom.messages.insertBefore(node, children[i].nextSibling);
        return;
      }
    }
    const loader = state.earlier.button;
    dom.messages.insertBefore(node, loader && loader.parentNode === dom.messages ? loader.nextSibling : dom.messages.firstChild);
  }

  function keepScrolled(wasNearBottom) {
    if (wasNearBottom) dom.messages.scrollTop = dom.messages.scrollHeight;
    else showJump();
  }

  function showNotice(text) {
    dom.notice.textContent = text;
    dom.notice.hidden = !text;
  }

  function noteFinal(seq) {
    if (typeof seq === "number" && seq > state.lastFinalSeq) state.lastFinalSeq = seq;
  }

  // --- connection ----------------------------------------------------------------------------

  function setConnection(stateName, text) {
    dom.connection.dataset.state = stateName;
    dom.connection.querySelector(".connection-text").textContent = text;
    updateControls();
  }

  function socketUrl() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + config.wsPath;
  }

  function connect() {
    state.reconnectTimer = null;
    setConnection("connecting", state.attempts ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(socketUrl());
    state.socket = socket;
    socket.addEventListener("open", () => onOpen(socket));
    socket.addEventListener("message", (event) => onFrame(event.data));
    socket.addEventListener("close", (event) => onClose(socket, event));
  }

  // A refused handshake looks like a network error to a page; ask the server whether the session ended.
  function checkStillLoggedIn() {
    if (state.leaving) return; // this tab is already navigating (its own logout form, a link)
    window
      .fetch(window.location.href, { method: "HEAD", redirect: "manual", credentials: "same-origin", cache: "no-store" })
      .then((response) => {
        if (response.type === "opaqueredirect") window.location.reload(); // the server sends it to login
      })
      .catch(() => {});
  }

  function onOpen(socket) {
    if (socket !== state.socket) return;
    socket.wasOpen = true;
    state.attempts = 0;
    setConnection("connected", "Connected");
    showNotice(state.closeNotice); // why the last connection closed, kept after reconnecting
    state.closeNotice = "";
    if (state.conversationId) {
      sendFrame({ type: "conversation.open", conversation_id: state.conversationId, last_seq: state.lastFinalSeq });
    }
    // Messages sent while the socket dropped are resent with their client id; the server dedupes.
    // (A voice message has no frame to resend: its audio went with the socket.)
    state.pending.forEach((entry) => entry.frame && sendFrame(entry.frame));
  }

  function onClose(socket, event) {
    if (socket !== state.socket) return;
    state.socket = null;
    state.attempts += 1;
    // 4401: the session ended (logout in another tab, expiry); the server sends the page to login.
    if (!socket.wasOpen || event.code === SESSION_ENDED) checkStillLoggedIn();
    state.closeNotice = CLOSE_NOTICES[event.code] || "";
    if (state.closeNotice) showNotice(state.closeNotice);
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** (state.attempts - 1));
    const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
    setConnection("disconnected", "Disconnected — reconnecting in " + Math.ceil(jittered / 1000) + " s");
    state.reconnectTimer = window.setTimeout(connect, jittered);
  }

  function connected() {
    return state.socket !== null && state.socket.readyState === WebSocket.OPEN;
  }

  function sendFrame(frame) {
    if (!connected()) return false;
    state.socket.send(JSON.stringify(frame));
    return true;
  }

  // --- composer ------------------------------------------------------------------------------

  function updateControls() {
    const empty = dom.input.value.trim() === "";
    dom.send.disabled = empty || !connected(); // while a reply is written, Send queues (below)
    dom.stop.hidden = !state.busy;
    dom.stop.disabled = !connected();
    if (dom.record) dom.record.disabled = !voice.recording && (state.busy || !connected() || voice.starting);
  }

  function setBusy(busy) {
    state.busy = busy;
    updateControls();
    if (!busy) sendQueued();
  }

  function newClientId() {
    state.clientCounter += 1;
    return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10) + "-" + state.clientCounter;
  }

  function submitMessage() {
    const text = dom.input.value;
    if (!text.trim() || !connected()) return;
    dom.input.value = "";
    if (state.busy) queueMessage(text);
    else sendText(text);
    updateControls();
  }

  function sendText(text) {
    const clientId = newClientId();
    const frame = { type: "message.send", client_id: clientId, text: text, conversation_id: state.conversationId || null };
    Object.assign(frame, chosenParticipants(), speakChoice());
    const item = renderMessage("user", null, "sending");
    item.body.textContent = text;
    state.pending.set(clientId, { el: item.el, frame: frame });
    sendFrame(frame);
    setBusy(true);
  }

  // --- queue: a message sent while a reply is written waits for the reply's end -----------------

  function queueMessage(text) {
    const item = renderMessage("user", null, "queued");
    item.body.textContent = text;
    const entry = { text: text, el: item.el };
    const note = el("p", { class: "message-queued" }, "Queued: sent when the reply finishes. ");
    const remove = el("button", { type: "button", class: "button button-quiet", "aria-label": "Remove queued message" }, "Remove");
    remove.addEventListener("click", () => {
      state.queue = state.queue.filter((queued) => queued !== entry);
      item.el.remove();
      dom.input.focus();
    });
    note.appendChild(remove);
    item.el.appendChild(note);
    state.queue.push(entry);
  }

  function sendQueued() {
    if (state.busy || !connected() || state.queue.length === 0) return;
    const entry = state.queue.shift();
    entry.el.remove(); // sent now: it becomes an ordinary message after the reply it waited for
    sendText(entry.text);
  }

  function onComposerKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitMessage();
    }
  }

  function stopGeneration() {
    if (state.conversationId) sendFrame({ type: "generation.stop", conversation_id: state.conversationId });
  }

  // --- messages ------------------------------------------------------------------------------

  const ROLE_NAMES = { user: "You", assistant: "Assistant", tool: "Tool" };

  function renderMessage(role, seq, status) {
    const article = el("article", { class: "message message-" + role, "data-testid": "message", "data-role": role, "data-status": status });
    article.setAttribute("aria-label", ROLE_NAMES[role] + " message");
    if (seq !== null) article.dataset.seq = String(seq);
    article.appendChild(el("div", { class: "message-author" }, ROLE_NAMES[role]));
    const body = el("div", { class: "message-body" });
    article.appendChild(body);
    addMessageCopy(article);
    append(article);
    return { el: article, body: body };
  }

  function messageItem(seq, role) {
    let item = state.items.get(seq);
    if (!item) {
      const rendered = renderMessage(role, seq, "streaming");
      item = { el: rendered.el, body: rendered.body, role: role, text: "" };
      state.items.set(seq, item);
    }
    return item;
  }

  function setStatus(item, status) {
    item.el.dataset.status = status;
    // Screen readers wait for a streaming reply to finish instead of reading every token.
    item.el.setAttribute("aria-busy", String(status === "streaming"));
  }

  function setFootnote(item, className, text) {
    let note = item.el.querySelector("." + className);
    if (!text) {
      if (note) note.remove();
      return;
    }
    if (!note) {
      note = el("p", { class: className });
      item.el.appendChild(note);
    }
    note.textContent = text;
  }

  function onUserMessage(frame) {
    const pending = state.pending.get(frame.client_id);
    let item = state.items.get(frame.seq);
    if (!item && pending) {
      state.pending.delete(frame.client_id);
      pending.el.dataset.seq = String(frame.seq);
      item = { el: pending.el, body: pending.el.querySelector(".message-body"), role: "user", text: frame.text };
      state.items.set(frame.seq, item);
    } else if (!item) {
      item = messageItem(frame.seq, "user");
    }
    item.text = frame.text;
    item.body.textContent = frame.text;
    setStatus(item, "complete");
    showAudio(item, frame.audio_url, "Your recording", false);
    noteFinal(frame.seq);
  }

  function onAssistantStarted(frame) {
    const item = messageItem(frame.seq, "assistant");
    labelParticipant(item, frame.participant);
    item.text = "";
    item.points = 0;
    item.resyncing = false;
    item.body.textContent = "";
    item.el.classList.remove("has-tool-calls");
    setStatus(item, "streaming");
    setBusy(true);
  }

  // Offsets make a repeated, overlapping or late delta harmless (a reply only grows). A delta past the
  // text held means one was lost on the way: it is not shown out of place; the reply is asked for again.
  function onAssistantDelta(frame) {
    const stick = nearBottom();
    const item = messageItem(frame.seq, "assistant");
    // Offsets count Unicode code points, as the server does; a JS string's length counts UTF-16 units,
    // which differ after any emoji: compare and cut in code points.
    const have = codePoints(item);
    if (frame.offset > have) {
      resync(item);
      return;
    }
    const incoming = Array.from(frame.text).length;
    if (frame.offset + incoming <= have) return;
    item.text = frame.offset === have ? item.text + frame.text : Array.from(item.text).slice(0, frame.offset).join("") + frame.text;
    item.points = frame.offset + incoming;
    item.body.textContent = item.text;
    if (item.text) showTyping(null);
    keepScrolled(stick);
  }

  // Reopening the conversation replays a streaming reply from its start (docs/protocol.md); once per gap.
  function codePoints(item) {
    if (item.points === undefined || item.points === null) item.points = Array.from(item.text).length;
    return item.points;
  }

  function resync(item) {
    if (item.resyncing || !state.conversationId) return;
    item.resyncing = sendFrame({ type: "conversation.open", conversation_id: state.conversationId, last_seq: state.lastFinalSeq });
  }

  function onAssistantCompleted(frame) {
    const stick = nearBottom();
    const item = messageItem(frame.seq, "assistant");
    labelParticipant(item, frame.participant);
    showTyping(null);
    item.text = frame.text || "";
    item.points = null;
    item.resyncing = false;
    if (frame.html) {
      item.body.innerHTML = frame.html; // sanitized on the server (chat/rendering.py)
      decorateCodeBlocks(item.body);
    } else {
      item.body.textContent = item.text;
    }
    const calls = frame.tool_calls || [];
    item.el.classList.toggle("has-tool-calls", calls.length > 0);
    item.el.classList.toggle("is-empty", !item.text.trim());
    setStatus(item, frame.status);
    setFootnote(item, "message-error", frame.status === "failed" ? "Reply failed: " + (frame.error || "unknown error") : "");
    setFootnote(item, "message-note", frame.status === "stopped" ? "Stopped" : "");
    setAskAgain(item, frame.status === "failed" ? frame.seq : null);
    showAudio(item, frame.audio_url, "Reply read aloud", false);
    noteFinal(frame.seq);
    keepScrolled(stick);
  }

  // A failed reply (a provider error, or a server restart mid-reply) offers to send the question again.
  function setAskAgain(item, seq) {
    const old = item.el.querySelector(".ask-again");
    if (old) old.remove();
    const question = seq === null ? null : questionBefore(seq);
    if (question === null) return;
    const button = el("button", { type: "button", class: "button button-quiet ask-again" }, "Ask again");
    button.addEventListener("click", () => {
      if (state.busy || !connected()) return;
      dom.input.value = question;
      submitMessage();
    });
    item.el.appendChild(button);
  }

  function questionBefore(seq) {
    let best = null;
    state.items.forEach((item, itemSeq) => {
      if (item.role === "user" && itemSeq < seq && (best === null || itemSeq > best.seq)) best = { seq: itemSeq, text: item.text };
    });
    return best === null ? null : best.text;
  }

  // The one frame that ends a turn: the composer is free again, whatever the turn's last message was.
  function onTurnFinished(frame) {
    showTyping(null);
    noteFinal(frame.seq);
    setBusy(state.pending.size > 0);
  }

  // --- participants (personas) ---------------------------------------------------------------
  // A conversation started with personas: each reply is labelled with its participant's name and
  // colour, and "<name> is typing…" shows from `participant.typing` until its first text.

  const PARTICIPANT_COLOURS = 6; // chat.css .participant-0 … .participant-5

  function chosenParticipants() {
    if (state.conversationId || !dom.picker) return {};
    const boxes = Array.from(dom.picker.querySelectorAll('input[name="persona"]:checked'));
    if (boxes.length === 0) return {};
    const chosen = { persona_ids: boxes.map((box) => Number(box.value)) };
    const rounds = dom.rounds ? Number(dom.rounds.value) : 1;
    if (boxes.length > 1 && rounds > 1) chosen.rounds = rounds;
    return chosen;
  }

  function labelParticipant(item, participant) {
    if (!participant) return;
    const author = item.el.querySelector(".message-author");
    author.textContent = participant.name;
    author.className = "message-author participant-chip participant-" + (participant.id % PARTICIPANT_COLOURS);
    item.el.dataset.participant = participant.name;
    item.el.setAttribute("aria-label", participant.name + " message");
  }

  function showTyping(participant) {
    if (!dom.typing) return;
    dom.typing.textContent = participant ? participant.name + " is typing…" : "";
    dom.typing.hidden = !participant;
  }

  function onParticipantTyping(frame) {
    showTyping(frame.participant);
  }

  function showParticipants(participants) {
    if (!dom.participants || !participants || participants.length === 0) return;
    dom.participants.replaceChildren(document.createTextNode("With "));
    participants.forEach((p) => {
      const chip = el("span", { class: "participant-chip participant-" + (p.id % PARTICIPANT_COLOURS), "data-testid": "participant" }, p.name);
      dom.participants.appendChild(chip);
    });
    dom.participants.hidden = false;
  }

  // --- copy buttons and code blocks ----------------------------------------------------------
  // Labels are drawn from data-label by CSS, so a message's text (what a person reads and copies) stays its own.

  const COPIED_MS = 2000;

  function copyButton(name, getText) {
    const button = el("button", { type: "button", class: "copy-button", "aria-label": name, "data-label": "Copy" });
    button.addEventListener("click", () => copyToClipboard(button, name, getText()));
    return button;
  }

  function copyToClipboard(button, name, text) {
    if (!navigator.clipboard) return;
    navigator.clipboard.writeText(text).then(
      () => flashLabel(button, name, "Copied"),
      () => flashLabel(button, name, "Copy failed")
    );
  }

  function flashLabel(button, name, label) {
    button.dataset.label = label;
    button.setAttribute("aria-label", label);
    window.clearTimeout(button.flashTimer);
    button.flashTimer = window.setTimeout(() => {
      button.dataset.label = "Copy";
      button.setAttribute("aria-label", name);
    }, COPIED_MS);
  }

  // The message's own text: the markdown of a reply, the words of a person's message.
  function addMessageCopy(article) {
    const actions = el("div", { class: "message-actions" });
    actions.appendChild(copyButton("Copy message", () => {
      const item = article.dataset.seq ? state.items.get(Number(article.dataset.seq)) : null;
      return item ? item.text : article.querySelector(".message-body").textContent;
    }));
    article.appendChild(actions);
  }

  // Each highlighted block (chat/rendering.py) gets a header: its language and a copy button.
  function decorateCodeBlocks(body) {
    body.querySelectorAll("pre > code").forEach((code) => {
      const pre = code.parentNode;
      const language = Array.from(code.classList).find((name) => name.startsWith("language-"));
      const label = language ? language.slice("language-".length) : "text";
      const block = el("div", { class: "code-block", role: "group", "aria-label": label + " code" });
      const header = el("div", { class: "code-header" });
      header.appendChild(el("span", { class: "code-language" }, label));
      header.appendChild(copyButton("Copy code", () => code.textContent));
      pre.parentNode.insertBefore(block, pre);
      block.appendChild(header);
      block.appendChild(pre);
    });
  }

  // --- tool cards ----------------------------------------------------------------------------

  function renderCard(frame) {
    const card = el("article", { class: "tool-card", "data-testid": "tool-card", "data-seq": String(frame.seq), "data-state": "running" });
    card.setAttribute("aria-label", "Tool call " + (frame.title || frame.name));
    const bodyId = "tool-body-" + frame.seq;
    const toggle = el("button", { type: "button", class: "tool-toggle", "aria-expanded": "true", "aria-controls": bodyId });
    toggle.appendChild(el("span", { class: "tool-name" }, frame.title || frame.name));
    toggle.appendChild(el("span", { class: "tool-server" }, frame.server));
    toggle.appendChild(el("span", { class: "tool-state" }, "running"));
    toggle.addEventListener("click", () => toggleCard(card, toggle));
    const body = el("div", { class: "tool-body", id: bodyId });
    body.appendChild(el("code", { class: "tool-qualified-name" }, frame.name));
    body.appendChild(el("h3", { class: "tool-heading" }, "Arguments"));
    body.appendChild(el("pre", { class: "tool-arguments" }, JSON.stringify(frame.arguments || {}, null, 2)));
    card.appendChild(toggle);
    card.appendChild(body);
    append(card);
    state.items.set(frame.seq, { el: card, role: "tool", text: "" });
    state.cards.set(frame.seq, card);
    return card;
  }

  function toggleCard(card, toggle) {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    card.querySelector(".tool-body").hidden = !open;
  }

  function cardFor(frame) {
    return state.cards.get(frame.seq) || renderCard(frame);
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
      span = el("span", { class: "tool-duration" });
      card.querySelector(".tool-state").before(span);
    }
    span.textContent = ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + " s";
    span.setAttribute("title", "Duration of the call");
  }

  function onToolStarted(frame) {
    setCardState(cardFor(frame), "running", "running");
    setBusy(true);
  }

  function onConfirmationRequested(frame) {
    const card = cardFor(frame);
    setCardState(card, "confirming", "waiting for your approval");
    let box = card.querySelector(".tool-confirm");
    if (box) box.remove();
    box = el("div", { class: "tool-confirm", role: "group", "aria-label": "Allow " + frame.name + "?" });
    box.appendChild(el("p", {}, "Allow this tool to run?"));
    const allow = el("button", { type: "button", class: "button button-primary" }, "Allow");
    const deny = el("button", { type: "button", class: "button button-quiet" }, "Deny");
    allow.addEventListener("click", () => answerConfirmation(frame, true, box));
    deny.addEventListener("click", () => answerConfirmation(frame, false, box));
    box.appendChild(allow);
    box.appendChild(deny);
    card.querySelector(".tool-body").appendChild(box);
  }

  function answerConfirmation(frame, allow, box) {
    const sent = sendFrame({ type: "tool.confirm", conversation_id: frame.conversation_id, call_id: frame.call_id, allow: allow });
    if (sent) box.querySelectorAll("button").forEach((button) => (button.disabled = true));
  }

  function onToolFinished(frame) {
    const stick = nearBottom();
    const card = cardFor(frame);
    const confirm = card.querySelector(".tool-confirm");
    if (confirm) confirm.remove();
    const label = frame.is_error ? (frame.kind && frame.kind !== "error" ? "error: " + frame.kind : "error") : "done";
    setCardState(card, frame.is_error ? "error" : "done", label);
    setCardDuration(card, frame.duration_ms);
    let result = card.querySelector(".tool-result");
    if (!result) {
      card.querySelector(".tool-body").appendChild(el("h3", { class: "tool-heading" }, frame.is_error ? "Error" : "Result"));
      result = el("pre", { class: "tool-result" });
      card.querySelector(".tool-body").appendChild(result);
    }
    showResult(card, result, frame.result || "");
    noteFinal(frame.seq);
    keepScrolled(stick);
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
    const more = el("p", { class: "tool-more" });
    const hidden = text.length - CARD_RESULT_CHARS;
    more.appendChild(el("span", {}, "… (" + hidden.toLocaleString("en") + " characters more)"));
    const button = el("button", { type: "button", class: "button button-quiet" }, "Show all");
    button.addEventListener("click", () => {
      result.textContent = text;
      more.remove();
    });
    more.appendChild(button);
    result.after(more);
  }

  // --- conversations -------------------------------------------------------------------------

  function conversationUrl(id) {
    return config.conversationUrl.replace("/0/", "/" + id + "/");
  }

  function markCurrent(link) {
    dom.conversations.querySelectorAll("a[aria-current]").forEach((a) => a.removeAttribute("aria-current"));
    if (link) link.setAttribute("aria-current", "page");
  }

  function onConversationCreated(frame) {
    if (sidebarItem(frame.conversation_id)) return; // told twice
    state.conversationId = frame.conversation_id;
    window.history.replaceState(null, "", conversationUrl(frame.conversation_id));
    const li = newSidebarItem(frame.conversation_id, frame.title, new Date().toISOString(), true);
    dom.conversations.prepend(li);
    groupByDay();
    markCurrent(li.querySelector("a"));
    if (frame.title) document.title = frame.title + " · Chat";
    if (dom.picker) dom.picker.hidden = true; // participants are chosen when a conversation starts
    showParticipants(frame.participants);
    showExport(frame.conversation_id);
  }

  // --- export links (the API's export, with this page's session) --------------------------------

  function showExport(id) {
    const group = document.getElementById("conversation-export");
    if (!group) return;
    group.querySelectorAll("a[data-format]").forEach((link) => {
      link.href = config.exportUrl.replace("/0/", "/" + id + "/") + "?format=" + link.dataset.format;
    });
    group.hidden = false;
  }

  // --- older messages of a long conversation ----------------------------------------------------

  function earlierButton() {
    if (!state.earlier.button) {
      const button = el("button", { type: "button", class: "button button-quiet load-earlier" }, "Load earlier messages");
      button.addEventListener("click", loadEarlier);
      state.earlier.button = button;
    }
    return state.earlier.button;
  }

  function showEarlier(firstSeq, more) {
    if (typeof firstSeq === "number") state.earlier.firstSeq = firstSeq;
    state.earlier.more = Boolean(more);
    const button = earlierButton();
    if (state.earlier.more) {
      dom.messages.insertBefore(button, dom.messages.firstChild);
      button.hidden = false;
    } else {
      button.hidden = true;
    }
  }

  function loadEarlier() {
    const earlier = state.earlier;
    if (!earlier.more || earlier.loading || earlier.firstSeq === null) return;
    if (!sendFrame({ type: "history.before", conversation_id: state.conversationId, before_seq: earlier.firstSeq })) return;
    earlier.loading = true;
    earlier.heightBefore = dom.messages.scrollHeight;
    earlier.button.textContent = "Loading earlier messages…";
  }

  function onHistoryPage(frame) {
    const earlier = state.earlier;
    earlier.loading = false;
    earlier.button.textContent = "Load earlier messages";
    dom.messages.scrollTop += dom.messages.scrollHeight - earlier.heightBefore; // keep what the person was reading in place
    showEarlier(frame.first_seq, frame.has_earlier);
  }

  function onConversationOpened(frame) {
    if (frame.has_earlier && state.lastFinalSeq > 0) {
      window.location.reload(); // offline for longer than a page of messages: start from the newest page
      return;
    }
    if (frame.has_earlier || state.earlier.firstSeq === null) showEarlier(frame.first_seq, frame.has_earlier);
    if (frame.title) document.title = frame.title + " · Chat";
    showParticipants(frame.participants);
    if (frame.last_seq === 0 && state.items.size === 0) {
      dom.empty.textContent = "No messages yet.";
    }
    if (state.items.size === 0 && frame.last_seq > 0) dom.empty.hidden = true;
    setBusy(Boolean(frame.streaming) || state.pending.size > 0);
  }

  // --- errors --------------------------------------------------------------------------------

  function onError(frame) {
    if (voice.recording && frame.client_id === voice.recording.clientId) cancelRecording(); // refused: it said why
    const pending = frame.client_id ? state.pending.get(frame.client_id) : null;
    if (pending) {
      state.pending.delete(frame.client_id);
      pending.el.dataset.status = "failed";
      pending.el.appendChild(el("p", { class: "message-error" }, "Not sent: " + frame.message));
      setBusy(false);
      return;
    }
    if (frame.code === "not_found" && frame.conversation_id === state.conversationId) {
      dom.empty.hidden = false;
      dom.empty.textContent = "This conversation does not exist or is not yours.";
    }
    if (frame.code === "not_streaming") setBusy(false);
    showNotice(frame.message);
  }

  // --- sidebar: rename, delete, search, day groups, replies being written ------------------------
  // Renames, deletions and replies being written reach every tab of the person (docs/protocol.md
  // "The sidebar"); a tab showing a deleted conversation leaves it for the new-chat page.

  const NOTICE_KEY = "chat-notice";
  const SEARCH_DELAY_MS = 200;
  const search = { input: null, results: null, empty: null, timer: null, counter: 0 };

  function sidebarItem(id) {
    return dom.conversations.querySelector('li.conversation-item[data-conversation-id="' + Number(id) + '"]');
  }

  function newSidebarItem(id, title, updatedAt, writing) {
    const li = el("li", { class: "conversation-item", "data-conversation-id": String(id), "data-updated-at": updatedAt });
    li.appendChild(el("a", { href: conversationUrl(id), "data-conversation-id": String(id) }));
    li.appendChild(el("span", { class: "conversation-writing", title: "A reply is being written" }, "writing…"));
    const actions = el("span", { class: "conversation-actions" });
    actions.appendChild(el("button", { type: "button", class: "conversation-action", "data-action": "rename" }, "Rename"));
    actions.appendChild(el("button", { type: "button", class: "conversation-action", "data-action": "delete" }, "Delete"));
    li.appendChild(actions);
    setItemTitle(li, title);
    setWriting(li, writing);
    return li;
  }

  function setItemTitle(li, title) {
    const name = title || "Untitled";
    li.querySelector("a").textContent = name;
    li.querySelector('[data-action="rename"]').setAttribute("aria-label", "Rename " + name);
    li.querySelector('[data-action="delete"]').setAttribute("aria-label", "Delete " + name);
  }

  function setWriting(li, writing) {
    li.toggleAttribute("data-writing", Boolean(writing));
    li.querySelector(".conversation-writing").hidden = !writing;
  }

  function onSidebarClick(event) {
    const button = event.target.closest("button[data-action]");
    const li = button ? button.closest("li.conversation-item") : null;
    if (!li) return;
    if (button.dataset.action === "rename") startRename(li);
    if (button.dataset.action === "delete") askDelete(li);
  }

  // Rename in place: Enter saves, Escape (or leaving the field) cancels.
  function startRename(li) {
    if (li.querySelector(".rename-input")) return;
    const link = li.querySelector("a");
    const input = el("input", { type: "text", class: "rename-input", maxlength: "200", "aria-label": "New title" });
    input.value = link.textContent;
    link.hidden = true;
    li.querySelector(".conversation-actions").hidden = true;
    link.after(input);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === "Escape") {
        event.preventDefault();
        finishRename(li, input, event.key === "Enter");
      }
    });
    input.addEventListener("blur", () => finishRename(li, input, false));
    input.focus();
    input.select();
  }

  function finishRename(li, input, save) {
    if (input.dataset.done) return;
    input.dataset.done = "1";
    const link = li.querySelector("a");
    const title = input.value.trim().replace(/\s+/g, " ");
    input.remove();
    link.hidden = false;
    li.querySelector(".conversation-actions").hidden = false;
    li.querySelector('[data-action="rename"]').focus();
    if (!save || !title || title === link.textContent) return;
    if (sendFrame({ type: "conversation.rename", conversation_id: Number(li.dataset.conversationId), title: title })) {
      setItemTitle(li, title);
    } else {
      showNotice("Not connected: the title was not changed.");
    }
  }

  // Delete after an inline "Delete? Yes / No" (no window.confirm: it blocks the page and every tab's socket).
  function askDelete(li) {
    if (li.querySelector(".delete-confirm")) return;
    const actions = li.querySelector(".conversation-actions");
    const name = li.querySelector("a").textContent;
    const box = el("span", { class: "delete-confirm", role: "group", "aria-label": "Delete " + name + "?" });
    box.appendChild(el("span", {}, "Delete?"));
    const yes = el("button", { type: "button", class: "button button-danger" }, "Yes");
    const no = el("button", { type: "button", class: "button button-quiet" }, "No");
    box.appendChild(yes);
    box.appendChild(no);
    const close = () => {
      box.remove();
      actions.hidden = false;
      li.querySelector('[data-action="delete"]').focus();
    };
    yes.addEventListener("click", () => {
      close();
      if (!sendFrame({ type: "conversation.delete", conversation_id: Number(li.dataset.conversationId) })) {
        showNotice("Not connected: nothing was deleted.");
      }
    });
    no.addEventListener("click", close);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
    actions.hidden = true;
    li.appendChild(box);
    no.focus();
  }

  function onConversationRenamed(frame) {
    const li = sidebarItem(frame.conversation_id);
    if (li) {
      setItemTitle(li, frame.title);
      if (frame.updated_at) li.dataset.updatedAt = frame.updated_at;
      groupByDay();
    }
    if (frame.conversation_id === state.conversationId) document.title = (frame.title || "Conversation") + " · Chat";
  }

  function onConversationDeleted(frame) {
    const li = sidebarItem(frame.conversation_id);
    if (li) li.remove();
    groupByDay();
    if (frame.conversation_id !== state.conversationId) return;
    window.sessionStorage.setItem(NOTICE_KEY, "This conversation was deleted.");
    state.leaving = true;
    window.location.assign(document.querySelector(".new-chat").getAttribute("href"));
  }

  function onConversationWriting(frame) {
    const li = sidebarItem(frame.conversation_id);
    if (li) setWriting(li, frame.writing);
  }

  // A notice carried over a navigation (the conversation this tab showed was deleted).
  function takeCarriedNotice() {
    const notice = window.sessionStorage.getItem(NOTICE_KEY);
    if (notice) {
      window.sessionStorage.removeItem(NOTICE_KEY);
      state.closeNotice = notice; // shown once connected, like a close notice
      showNotice(notice);
    }
  }

  // Headings by the day of each conversation's last change, in this browser's time zone.
  function dayGroup(date, now) {
    const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    const weekAgo = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 7);
    if (date >= today) return "Today";
    if (date >= yesterday) return "Yesterday";
    if (date >= weekAgo) return "Previous 7 days";
    return "Older";
  }

  function groupByDay() {
    dom.conversations.querySelectorAll("li.conversation-day").forEach((heading) => heading.remove());
    const items = Array.from(dom.conversations.querySelectorAll("li.conversation-item"));
    const when = (li) => Date.parse(li.dataset.updatedAt) || 0;
    items.sort((a, b) => when(b) - when(a) || Number(b.dataset.conversationId) - Number(a.dataset.conversationId));
    const now = new Date();
    let current = null;
    items.forEach((li) => {
      const group = dayGroup(new Date(when(li)), now);
      if (group !== current) {
        const heading = el("li", { class: "conversation-day" }); // a plain item: a list may hold only <li> (axe "list")
        heading.appendChild(el("h3", {}, group));
        dom.conversations.appendChild(heading);
        current = group;
      }
      dom.conversations.appendChild(li);
    });
    dom.conversationsEmpty.hidden = items.length > 0;
  }

  // Search: results replace the list while a query is typed; Escape clears. Text is marked with DOM calls only.
  function onSearchInput() {
    window.clearTimeout(search.timer);
    const query = search.input.value.trim();
    if (!query) {
      showSearchResults(null);
      return;
    }
    search.timer = window.setTimeout(() => runSearch(query), SEARCH_DELAY_MS);
  }

  function runSearch(query) {
    search.counter += 1;
    const asked = search.counter;
    const url = search.input.dataset.searchUrl + "?q=" + encodeURIComponent(query);
    window
      .fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(String(response.status)))))
      .then((page) => {
        if (asked === search.counter && search.input.value.trim() === query) showSearchResults(page.items, query);
      })
      .catch(() => {
        if (asked === search.counter) showSearchMessage("Search failed; try again.");
      });
  }

  function showSearchMessage(text) {
    search.empty.textContent = text;
    search.empty.hidden = !text;
  }

  function showSearchResults(items, query) {
    const searching = items !== null;
    search.results.hidden = !searching;
    dom.conversations.hidden = searching;
    document.getElementById("conversations-title").hidden = searching;
    dom.conversationsEmpty.hidden = searching || dom.conversations.querySelector("li.conversation-item") !== null;
    search.results.replaceChildren();
    showSearchMessage(searching && items.length === 0 ? "Nothing found." : "");
    if (!searching) return;
    items.forEach((item) => {
      const li = el("li", { class: "search-result", "data-conversation-id": String(item.id) });
      const link = el("a", { href: conversationUrl(item.id) });
      link.appendChild(marked(item.title || "Untitled", query));
      li.appendChild(link);
      if (item.snippet) {
        const snippet = el("p", { class: "search-result-snippet" });
        snippet.appendChild(marked(item.snippet, query));
        li.appendChild(snippet);
      }
      search.results.appendChild(li);
    });
  }

  function clearSearch() {
    window.clearTimeout(search.timer);
    search.counter += 1;
    search.input.value = "";
    showSearchResults(null);
  }

  // The text with every occurrence of the query's words (any case) inside <mark>, as DOM nodes.
  function marked(text, query) {
    const fragment = document.createDocumentFragment();
    const words = query.split(/\s+/).filter(Boolean).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    if (words.length === 0) {
      fragment.appendChild(document.createTextNode(text));
      return fragment;
    }
    const pattern = new RegExp(words.sort((a, b) => b.length - a.length).join("|"), "gi");
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      fragment.appendChild(el("mark", {}, match[0]));
      last = match.index + match[0].length;
    }
    if (last < text.length) fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  function setUpSidebar() {
    search.input = document.getElementById("conversation-search");
    search.results = document.getElementById("search-results");
    search.empty = document.getElementById("search-empty");
    dom.conversations.addEventListener("click", onSidebarClick);
    search.input.addEventListener("input", onSearchInput);
    search.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        clearSearch();
      }
    });
    groupByDay();
    takeCarriedNotice();
  }

  // The conversation this tab follows gets no conversation.writing: its own frames say when a reply is written.
  function markFollowedWriting(frame) {
    if (frame.type !== "assistant.started" && frame.type !== "turn.finished") return;
    const li = state.conversationId ? sidebarItem(state.conversationId) : null;
    if (li) setWriting(li, frame.type === "assistant.started");
  }

  const SIDEBAR_HANDLERS = {
    "conversation.renamed": onConversationRenamed,
    "conversation.deleted": onConversationDeleted,
    "conversation.writing": onConversationWriting,
  };

  // --- the phone sidebar -------------------------------------------------------------------
  // On a narrow screen the sidebar is closed behind a "Conversations" button (chat.css hides the
  // button elsewhere). Opening moves focus into it; Escape closes it and gives focus back to the button.

  function sidebarToggle() {
    const toggle = document.getElementById("sidebar-toggle");
    return toggle && toggle.offsetParent !== null ? toggle : null;
  }

  function setSidebarOpen(open, focusToggle) {
    const toggle = document.getElementById("sidebar-toggle");
    toggle.setAttribute("aria-expanded", String(open));
    document.querySelector(".app").classList.toggle("sidebar-open", open);
    if (open) document.querySelector("#sidebar .new-chat").focus();
    else if (focusToggle) toggle.focus();
  }

  function onSidebarEscape(event) {
    const toggle = sidebarToggle();
    if (event.key !== "Escape" || !toggle || toggle.getAttribute("aria-expanded") !== "true") return;
    const target = event.target;
    // Escape first cancels a rename, a delete question or a search typed in the sidebar.
    if (target.closest(".rename-input, .delete-confirm") || (target.id === "conversation-search" && target.value)) return;
    setSidebarOpen(false, true);
  }

  function setUpSidebarToggle() {
    const toggle = document.getElementById("sidebar-toggle");
    if (!toggle) return;
    toggle.addEventListener("click", () => setSidebarOpen(toggle.getAttribute("aria-expanded") !== "true", false));
    document.addEventListener("keydown", onSidebarEscape, true);
  }

  // --- screen-reader announcements ----------------------------------------------------------
  // The message log is not a live region (it would read every token). Instead: one polite
  // announcement when a reply starts, one when its turn ends, and a failure said assertively.
  // Each speaker is announced once per turn, so a tool round does not start the reply again.

  const announced = { speaker: null };

  function announce(politeness, text) {
    const region = document.getElementById("announce-" + politeness);
    if (region) region.textContent = text;
  }

  function announceFor(frame) {
    if (frame.type === "assistant.started") {
      const name = frame.participant ? frame.participant.name : ROLE_NAMES.assistant;
      if (announced.speaker !== name) announce("polite", name + " is replying…");
      announced.speaker = name;
    } else if (frame.type === "turn.finished") {
      if (announced.speaker === null && !state.busy) return; // an old turn this tab did not see start
      announced.speaker = null;
      if (frame.status === "failed") announce("assertive", "Reply failed: " + (frame.error || "unknown error"));
      else announce("polite", frame.status === "stopped" ? "Reply stopped." : "Reply complete.");
    }
  }

  // --- voice messages -----------------------------------------------------------------------
  // Press Record: the microphone is captured by an AudioWorklet as 16 kHz mono 16-bit PCM and streamed
  // in ~100 ms binary frames between audio.start and audio.end (docs/protocol.md "Voice messages").
  // Press again to send, Escape or Cancel to drop it. The transcript comes back as message.created.

  const voice = { recording: null, starting: false };
  const SPEAK_KEY = "chat-speak-replies";

  function speakChoice() {
    return dom.speak && dom.speak.checked && !dom.speak.disabled ? { speak: true } : {};
  }

  function microphoneProblem(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "Microphone access was refused. Allow the microphone for this site to send voice messages.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") return "No microphone was found. Connect one to send voice messages.";
    if (name === "NotReadableError") return "The microphone could not be used: another program may be using it.";
    return "The microphone could not be started" + (err && err.message ? ": " + err.message : ".");
  }

  async function startRecording() {
    if (voice.recording || voice.starting || state.busy || !connected()) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode) {
      showNotice("This browser cannot record audio here (it needs a secure page and AudioWorklet).");
      return;
    }
    voice.starting = true;
    updateControls();
    let stream = null;
    let context = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
      context = new AudioContext({ sampleRate: config.voice.sampleRate });
      await context.audioWorklet.addModule(config.voice.workletUrl);
    } catch (err) {
      voice.starting = false;
      if (stream) stream.getTracks().forEach((track) => track.stop());
      if (context) context.close();
      showNotice(microphoneProblem(err));
      updateControls();
      return;
    }
    voice.starting = false;
    if (!connected()) {
      stream.getTracks().forEach((track) => track.stop());
      context.close();
      updateControls();
      return;
    }
    const node = new AudioWorkletNode(context, "pcm-recorder");
    const recording = { clientId: newClientId(), stream: stream, context: context, node: node, began: performance.now(), timer: null, onLast: null };
    node.port.onmessage = (event) => onRecorded(recording, event.data);
    context.createMediaStreamSource(stream).connect(node);
    node.connect(context.destination); // pulled by the graph; it outputs silence
    const frame = { type: "audio.start", client_id: recording.clientId, format: "pcm_s16le", sample_rate: context.sampleRate, conversation_id: state.conversationId || null };
    Object.assign(frame, chosenParticipants(), speakChoice());
    delete frame.rounds;
    voice.recording = recording;
    sendFrame(frame);
    showNotice("");
    recording.timer = window.setInterval(() => tickRecording(recording), 200);
    tickRecording(recording);
    dom.recording.hidden = false;
    dom.record.textContent = "Send recording";
    dom.record.setAttribute("aria-pressed", "true");
    updateControls();
  }

  function tickRecording(recording) {
    const seconds = Math.floor((performance.now() - recording.began) / 1000);
    dom.recordingTime.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    if (seconds >= config.voice.maxSeconds) finishRecording(); // the server's limit: send what there is
  }

  function onRecorded(recording, data) {
    if (voice.recording !== recording && !recording.onLast) return;
    if (data.pcm.byteLength && state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(data.pcm);
    dom.recordingLevel.value = data.level;
    if (data.last && recording.onLast) recording.onLast();
  }

  // Press again: the worklet hands over its last samples, then audio.end; the transcript shows as the message.
  function finishRecording() {
    const recording = voice.recording;
    if (!recording || recording.onLast) return;
    recording.onLast = () => {
      releaseMicrophone(recording);
      if (!sendFrame({ type: "audio.end", client_id: recording.clientId })) {
        showNotice("Not connected: the recording was not sent.");
        return;
      }
      const item = renderMessage("user", null, "sending");
      item.body.textContent = "Transcribing…";
      state.pending.set(recording.clientId, { el: item.el, frame: null });
      setBusy(true);
    };
    recording.node.port.postMessage("flush");
  }

  // Escape or Cancel: nothing is sent, and the server drops what it has of it.
  function cancelRecording() {
    const recording = voice.recording;
    if (!recording) return;
    sendFrame({ type: "audio.cancel", client_id: recording.clientId });
    releaseMicrophone(recording);
  }

  function releaseMicrophone(recording) {
    if (voice.recording === recording) voice.recording = null;
    window.clearInterval(recording.timer);
    recording.stream.getTracks().forEach((track) => track.stop());
    recording.node.port.onmessage = null;
    recording.context.close();
    dom.recording.hidden = true;
    dom.recordingLevel.value = 0;
    dom.record.textContent = "Record";
    dom.record.setAttribute("aria-pressed", "false");
    updateControls();
  }

  // A reply read aloud (or why it could not be): a player under it, playing at once.
  function onAssistantAudio(frame) {
    const item = state.items.get(frame.seq);
    if (!item) return;
    if (frame.audio_url) {
      const player = showAudio(item, frame.audio_url, "Reply read aloud", true);
      if (player) player.play().catch(() => {}); // a browser may refuse autoplay: the control stays
    } else {
      setFootnote(item, "message-note", frame.error || "The reply could not be read aloud.");
    }
  }

  function showAudio(item, url, label, fresh) {
    if (!url) return null;
    let player = item.el.querySelector("audio.message-audio");
    if (player && player.getAttribute("src") === url) return fresh ? player : null;
    if (!player) {
      player = el("audio", { class: "message-audio", controls: "", preload: "metadata", "aria-label": label });
      item.el.querySelector(".message-body").after(player);
    }
    player.setAttribute("src", url);
    return player;
  }

  function setUpVoice() {
    if (!dom.record) return;
    dom.record.addEventListener("click", () => (voice.recording ? finishRecording() : startRecording()));
    dom.recordingCancel.addEventListener("click", cancelRecording);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && voice.recording) {
        event.preventDefault();
        cancelRecording();
      }
    });
    if (dom.speak && !dom.speak.disabled) {
      dom.speak.checked = window.localStorage.getItem(SPEAK_KEY) === "on";
      dom.speak.addEventListener("change", () => window.localStorage.setItem(SPEAK_KEY, dom.speak.checked ? "on" : "off"));
    }
  }

  // --- dispatch ------------------------------------------------------------------------------

  const HANDLERS = {
    "conversation.created": onConversationCreated,
    "conversation.opened": onConversationOpened,
    "message.created": onUserMessage,
    "assistant.started": onAssistantStarted,
    "assistant.delta": onAssistantDelta,
    "assistant.completed": onAssistantCompleted,
    "tool.started": onToolStarted,
    "tool.confirmation_requested": onConfirmationRequested,
    "tool.finished": onToolFinished,
    "turn.finished": onTurnFinished,
    "assistant.audio": onAssistantAudio,
    "participant.typing": onParticipantTyping,
    "history.page": onHistoryPage,
    error: onError,
    pong: function () {},
  };

  function onFrame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (err) {
      return;
    }
    const forOtherConversation =
      frame.conversation_id && state.conversationId && frame.conversation_id !== state.conversationId && frame.type !== "error";
    if (SIDEBAR_HANDLERS[frame.type]) {
      SIDEBAR_HANDLERS[frame.type](frame); // news of any of the person's conversations
      return;
    }
    if (forOtherConversation) return;
    markFollowedWriting(frame);
    announceFor(frame);
    const handler = HANDLERS[frame.type];
    if (handler) handler(frame);
    // Other parts of the page (documents.js) follow this conversation's frames too.
    document.dispatchEvent(new CustomEvent("chat:frame", { detail: frame }));
  }

  function start() {
    dom.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      submitMessage();
    });
    dom.input.addEventListener("keydown", onComposerKey);
    dom.input.addEventListener("input", updateControls);
    dom.stop.addEventListener("click", stopGeneration);
    // Older messages come in as the person scrolls up near the top. Only a move up counts: while a
    // conversation's newest page renders, the log sticks to the bottom and its scroll events report a
    // small scrollTop that only grows; those must not fetch a second page nobody asked for.
    let lastScrollTop = dom.messages.scrollTop;
    dom.messages.addEventListener("scroll", () => {
      const top = dom.messages.scrollTop;
      const movedUp = top < lastScrollTop;
      lastScrollTop = top;
      if (movedUp && top < 200) loadEarlier();
      showJump();
    });
    if (dom.jump) dom.jump.addEventListener("click", jumpToLatest);
    window.addEventListener("beforeunload", () => {
      state.leaving = true;
    });
    window.addEventListener("pagehide", () => {
      if (state.reconnectTimer) window.clearTimeout(state.reconnectTimer);
      const socket = state.socket;
      state.socket = null;
      if (socket) socket.close(1000);
    });
    setUpSidebar();
    setUpSidebarToggle();
    setUpVoice();
    connect();
    dom.input.focus();
  }

  // What other scripts of the page may ask (documents.js).
  window.chatPage = {
    conversationId: () => state.conversationId,
    chosenParticipants: chosenParticipants,
    conversationUrl: conversationUrl,
  };

  start();
})();
