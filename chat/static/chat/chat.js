// The chat page's core: one WebSocket per tab speaking docs/protocol.md (connecting, reconnecting,
// the close notices), the composer and its queue, the messages of the open conversation (streamed
// replies, failures with "Ask again", personas, older pages of a long conversation), and the dispatch
// of every frame. Text goes in with textContent; the only HTML inserted is the server's sanitized
// `html` of assistant.completed.
//
// The page's other scripts each own one part (docs/architecture.md "The chat page's scripts"):
// announcements.js, copy.js, tool-cards.js, sidebar.js, voice.js and branches.js are loaded before this
// one (all `defer`, in order) and register themselves on `window.chatPage` as `announcements`, `copy`,
// `toolCards`, `sidebar`, `voice` and `branches`; this script calls them and, at its end, adds to the same object
// the few helpers they call back (listed there), then starts. documents.js, loaded after, uses the
// first three of those helpers and follows the open conversation's frames through the `chat:frame` event.
(function () {
  "use strict";

  const page = (window.chatPage = window.chatPage || {});
  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const RECONNECT_BASE_MS = 500;
  const RECONNECT_MAX_MS = 10000;
  const SESSION_ENDED = 4401;
  // Close codes the server sends with a reason worth telling the person (docs/protocol.md).
  const CLOSE_NOTICES = {
    1007: "The connection was closed because the last message was not valid text.",
    1009: "The connection was closed: message too large.",
    4408: "The connection fell behind (this page was not reading what the server sent). Reconnecting…",
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
  };

  const state = {
    conversationId: config.conversationId,
    socket: null,
    attempts: 0,
    reconnectTimer: null,
    busy: false,
    lastFinalSeq: 0,
    items: new Map(), // seq -> {el, role, text}
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
    // Messages queued while there was no socket: in a conversation, `conversation.opened` says whether a
    // reply is still being written first (setBusy sends them after it); a new chat has none.
    if (!state.conversationId) sendQueued();
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
    dom.send.disabled = empty; // while a reply is written or the socket is down, Send queues (below)
    dom.stop.hidden = !state.busy;
    dom.stop.disabled = !connected();
    page.voice.updateControls();
  }

  function setBusy(busy) {
    state.busy = busy;
    dom.messages.dataset.busy = String(busy);
    updateControls();
    if (!busy) sendQueued();
  }

  function newClientId() {
    state.clientCounter += 1;
    return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10) + "-" + state.clientCounter;
  }

  function submitMessage() {
    const text = dom.input.value;
    if (!text.trim()) return;
    dom.input.value = "";
    if (state.busy || !connected()) queueMessage(text);
    else sendText(text);
    updateControls();
  }

  function sendText(text) {
    const clientId = newClientId();
    const frame = { type: "message.send", client_id: clientId, text: text, conversation_id: state.conversationId || null };
    Object.assign(frame, chosenParticipants(), page.voice.speakChoice());
    const item = renderMessage("user", null, "sending");
    item.body.textContent = text;
    state.pending.set(clientId, { el: item.el, frame: frame });
    sendFrame(frame);
    setBusy(true);
  }

  // --- queue: a message sent while a reply is written, or while the socket is down, waits --------

  function queueMessage(text) {
    const item = renderMessage("user", null, "queued");
    item.body.textContent = text;
    const entry = { text: text, el: item.el };
    const why = state.busy ? "Queued: sent when the reply finishes. " : "Queued: sent when connected. ";
    const note = el("p", { class: "message-queued" }, why);
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
    page.copy.addMessageCopy(article);
    page.branches.decorate(article, role);
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
    page.voice.showAudio(item, frame.audio_url, "Your recording", false);
    page.branches.showVersions(item, frame.versions);
    noteFinal(frame.seq);
  }

  function onAssistantStarted(frame) {
    const item = messageItem(frame.seq, "assistant");
    labelParticipant(item, frame.participant);
    page.branches.showVersions(item, frame.versions);
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
      page.copy.decorateCodeBlocks(item.body);
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
    page.voice.showAudio(item, frame.audio_url, "Reply read aloud", false);
    page.branches.showVersions(item, frame.versions);
    noteFinal(frame.seq);
    keepScrolled(stick);
  }

  // A failed reply (a provider error, or a server restart mid-reply) offers to ask again: the last
  // reply is regenerated (the failed one stays as its earlier version); an older one sends the question anew.
  function setAskAgain(item, seq) {
    const old = item.el.querySelector(".ask-again");
    if (old) old.remove();
    const question = seq === null ? null : questionBefore(seq);
    if (question === null) return;
    const button = el("button", { type: "button", class: "button button-quiet ask-again" }, "Ask again");
    button.addEventListener("click", () => {
      if (state.busy || !connected()) return;
      if (item.el === dom.messages.querySelector(":scope > article:last-of-type")) {
        page.branches.regenerate();
        return;
      }
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

  // --- conversations -------------------------------------------------------------------------

  function conversationUrl(id) {
    return config.conversationUrl.replace("/0/", "/" + id + "/");
  }

  function onConversationCreated(frame) {
    if (page.sidebar.has(frame.conversation_id)) return; // told twice
    state.conversationId = frame.conversation_id;
    window.history.replaceState(null, "", conversationUrl(frame.conversation_id));
    page.sidebar.addCurrent(frame.conversation_id, frame.title);
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

  // Another version is shown from after_seq on (branches.js): what this tab showed after it goes; the
  // new branch's messages follow as ordinary frames, and what is held starts again from after_seq.
  function truncateAfter(afterSeq, firstSeq, hasEarlier) {
    Array.from(state.items.keys()).forEach((seq) => {
      if (seq <= afterSeq) return;
      state.items.get(seq).el.remove();
      state.items.delete(seq);
    });
    if (state.lastFinalSeq > afterSeq) state.lastFinalSeq = afterSeq;
    if (hasEarlier) showEarlier(firstSeq, true);
    showTyping(null);
  }

  // --- errors --------------------------------------------------------------------------------

  function onError(frame) {
    page.voice.refused(frame); // a recording refused: it said why
    if (page.branches.refused(frame)) return; // an edit or a regenerate: said where it was asked
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

  // --- dispatch ------------------------------------------------------------------------------

  const HANDLERS = {
    "conversation.created": onConversationCreated,
    "conversation.opened": onConversationOpened,
    "message.created": onUserMessage,
    "assistant.started": onAssistantStarted,
    "assistant.delta": onAssistantDelta,
    "assistant.completed": onAssistantCompleted,
    "turn.finished": onTurnFinished,
    "participant.typing": onParticipantTyping,
    "history.page": onHistoryPage,
    error: onError,
    pong: function () {},
    ...page.toolCards.handlers,
    ...page.voice.handlers,
    ...page.branches.handlers,
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
    if (page.sidebar.handlers[frame.type]) {
      page.sidebar.handlers[frame.type](frame); // news of any of the person's conversations
      return;
    }
    if (forOtherConversation) return;
    page.sidebar.followFrame(frame);
    page.announcements.frame(frame);
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
    page.sidebar.setUp();
    page.voice.setUp();
    connect();
    dom.input.focus();
  }

  function sendBinary(data) {
    if (connected()) state.socket.send(data);
  }

  // A notice shown now and again once connected, like a close notice.
  function keepNotice(text) {
    state.closeNotice = text;
    showNotice(text);
  }

  // This tab navigates away on purpose: a socket closing meanwhile is no sign of a logout.
  function leave(url) {
    state.leaving = true;
    window.location.assign(url);
  }

  // What the page's other scripts may ask; nothing else of this file is reachable from outside.
  Object.assign(page, {
    // any script (documents.js too)
    conversationId: () => state.conversationId,
    chosenParticipants: chosenParticipants, // the personas (and rounds) chosen for a new conversation
    conversationUrl: conversationUrl,
    // the connection
    config: config, // the page's #chat-config
    connected: connected,
    sendFrame: sendFrame, // false when not connected
    sendBinary: sendBinary, // audio, dropped when not connected
    newClientId: newClientId,
    busy: () => state.busy, // a reply is being written
    setBusy: setBusy,
    updateControls: updateControls,
    truncateAfter: truncateAfter, // (after_seq, first_seq, has_earlier) of a conversation.branched
    // notices and leaving
    showNotice: showNotice,
    keepNotice: keepNotice,
    leave: leave,
    // the message log
    el: el, // a new element with attributes and text
    roleNames: ROLE_NAMES,
    items: state.items, // seq -> {el, body, role, text}: messages and tool cards shown
    pending: state.pending, // client id -> {el, frame}: sent, not yet acknowledged by message.created
    renderMessage: renderMessage,
    setFootnote: setFootnote,
    append: append,
    nearBottom: nearBottom,
    keepScrolled: keepScrolled,
    noteFinal: noteFinal,
  });

  start();
})();
