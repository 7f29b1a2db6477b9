// Copy buttons on the chat page: one on every message (its own text: the markdown of a reply, the
// words of a person's message) and a header on each highlighted code block of a reply (its language
// and a copy button). Labels are drawn from data-label by CSS, so a message's text (what a person
// reads and copies) stays its own.
// Loaded before chat.js, which calls it through `window.chatPage.copy` (below).
(function () {
  "use strict";

  const page = (window.chatPage = window.chatPage || {});
  const COPIED_MS = 2000;

  function copyButton(name, getText) {
    const button = page.el("button", { type: "button", class: "copy-button", "aria-label": name, "data-label": "Copy" });
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
    const actions = page.el("div", { class: "message-actions" });
    actions.appendChild(copyButton("Copy message", () => {
      const item = article.dataset.seq ? page.items.get(Number(article.dataset.seq)) : null;
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
      const block = page.el("div", { class: "code-block", role: "group", "aria-label": label + " code" });
      const header = page.el("div", { class: "code-header" });
      header.appendChild(page.el("span", { class: "code-language" }, label));
      header.appendChild(copyButton("Copy code", () => code.textContent));
      pre.parentNode.insertBefore(block, pre);
      block.appendChild(header);
      block.appendChild(pre);
    });
  }

  page.copy = { addMessageCopy: addMessageCopy, decorateCodeBlocks: decorateCodeBlocks };
})();
