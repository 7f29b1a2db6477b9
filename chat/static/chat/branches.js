// Versions and branches on the chat page (docs/protocol.md "Versions and branches"): a "Regenerate"
// button on the last reply, "Edit" on each of the person's messages (edit in place, Enter sends, Escape
// cancels), and a "‹ 2/3 ›" switcher on every message that has other versions. Each action goes to the
// server (message.regenerate, message.send with edit_of, branch.show); the server answers every tab of
// the conversation with `conversation.branched`, after which this script drops what the tab showed
// past `after_seq` and the new branch's messages arrive as ordinary frames.
// Loaded before chat.js, which calls it through `window.chatPage.branches` (below).
(function () {
  "use strict";

  const page = (window.chatPage = window.chatPage || {});
  const waiting = new Map(); // client id -> {kind: "edit"|"regenerate", editor}: sent, not yet answered

  // --- buttons on every message ----------------------------------------------------------------

  function decorate(article, role) {
    const actions = article.querySelector(".message-actions");
    if (!actions) return;
    if (role === "assistant") {
      const again = actionButton("regenerate-button", "Regenerate reply", "Regenerate");
      again.addEventListener("click", regenerate);
      actions.appendChild(again);
    } else if (role === "user") {
      const edit = actionButton("edit-button", "Edit message", "Edit");
      edit.addEventListener("click", () => openEditor(article));
      actions.appendChild(edit);
    }
  }

  // Labels are drawn from data-label by CSS (as copy buttons are): a message's text stays its own.
  function actionButton(className, name, label) {
    return page.el("button", { type: "button", class: "message-action " + className, "aria-label": name, "data-label": label });
  }

  function refuseWhileBusy() {
    if (!page.busy() && page.connected() && page.conversationId()) return false;
    page.showNotice(page.busy() ? "Wait for the reply to finish (or stop it) first." : "Not connected.");
    return true;
  }

  function regenerate() {
    if (refuseWhileBusy()) return;
    const clientId = page.newClientId();
    waiting.set(clientId, { kind: "regenerate" });
    const frame = { type: "message.regenerate", conversation_id: page.conversationId(), client_id: clientId };
    Object.assign(frame, page.voice.speakChoice());
    page.sendFrame(frame);
    page.setBusy(true);
  }

  // --- editing a message in place ----------------------------------------------------------------

  function openEditor(article) {
    if (article.querySelector(".message-editor") || refuseWhileBusy()) return;
    const seq = Number(article.dataset.seq);
    const item = page.items.get(seq);
    const form = page.el("form", { class: "message-editor", "aria-label": "Edit your message" });
    const input = page.el("textarea", { class: "message-editor-input", rows: "3", "aria-label": "Edited message", maxlength: String(page.config.maxChars) });
    input.value = item ? item.text : "";
    const send = page.el("button", { type: "submit", class: "button button-primary" }, "Send");
    const cancel = page.el("button", { type: "button", class: "button button-quiet" }, "Cancel");
    const error = page.el("p", { class: "message-error", role: "alert", hidden: "" });
    const buttons = page.el("div", { class: "message-editor-actions" });
    buttons.append(cancel, send);
    form.append(input, error, buttons);
    const editor = { article: article, form: form, input: input, send: send, cancel: cancel, error: error, seq: seq };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sendEdit(editor);
    });
    cancel.addEventListener("click", () => closeEditor(editor));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeEditor(editor);
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendEdit(editor);
      }
    });
    article.classList.add("is-editing");
    article.appendChild(form);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  function closeEditor(editor) {
    editor.form.remove();
    editor.article.classList.remove("is-editing");
    const edit = editor.article.querySelector(".edit-button");
    if (edit && editor.article.isConnected) edit.focus();
  }

  function sendEdit(editor) {
    const text = editor.input.value;
    if (!text.trim() || editor.send.disabled || refuseWhileBusy()) return;
    const clientId = page.newClientId();
    waiting.set(clientId, { kind: "edit", editor: editor });
    editor.send.disabled = true;
    editor.send.textContent = "Sending…";
    editor.error.hidden = true;
    page.sendFrame({ type: "message.send", conversation_id: page.conversationId(), client_id: clientId, text: text, edit_of: editor.seq });
    page.setBusy(true);
  }

  // --- answers -------------------------------------------------------------------------------------

  // An error answering an edit or a regenerate: the editor keeps the text and says why. True when handled.
  function refused(frame) {
    const sent = frame.client_id ? waiting.get(frame.client_id) : null;
    if (!sent) return false;
    waiting.delete(frame.client_id);
    page.setBusy(false);
    if (sent.kind === "edit" && sent.editor.form.isConnected) {
      const editor = sent.editor;
      editor.send.disabled = false;
      editor.send.textContent = "Send";
      editor.error.textContent = "Not sent: " + frame.message;
      editor.error.hidden = false;
      editor.input.focus();
    } else {
      page.showNotice(frame.message);
    }
    return true;
  }

  function onBranched(frame) {
    waiting.delete(frame.client_id);
    page.truncateAfter(frame.after_seq, frame.first_seq, frame.has_earlier);
  }

  // --- the version switcher ------------------------------------------------------------------------

  function showVersions(item, versions) {
    if (!Array.isArray(versions) || versions.length < 2) return;
    const seq = Number(item.el.dataset.seq);
    const index = versions.indexOf(seq);
    if (index < 0) return;
    item.el.classList.add("has-versions"); // shown even when it is a reply's empty tool-calling start (chat.css)
    let nav = item.el.querySelector(".versions");
    if (!nav) {
      nav = page.el("div", { class: "versions", role: "group", "data-testid": "versions" });
      const actions = item.el.querySelector(".message-actions");
      actions.insertBefore(nav, actions.firstChild);
    }
    const previous = switchButton("‹", "Previous version", versions[index - 1]);
    const next = switchButton("›", "Next version", versions[index + 1]);
    // Read as "Version 2 of 3" (the nav's name); shown as "2/3".
    const label = page.el("span", { class: "versions-count", "data-label": index + 1 + "/" + versions.length, "aria-hidden": "true" });
    nav.setAttribute("aria-label", "Version " + (index + 1) + " of " + versions.length);
    nav.replaceChildren(previous, label, next);
  }

  function switchButton(text, name, target) {
    const button = actionButton("version-button", name, text);
    if (target === undefined) button.disabled = true;
    else button.addEventListener("click", () => {
      if (refuseWhileBusy()) return;
      page.sendFrame({ type: "branch.show", conversation_id: page.conversationId(), seq: target });
    });
    return button;
  }

  page.branches = {
    decorate: decorate,
    regenerate: regenerate, // the last reply written again ("Ask again" on a failed last reply)
    showVersions: showVersions,
    refused: refused,
    handlers: { "conversation.branched": onBranched },
  };
})();
