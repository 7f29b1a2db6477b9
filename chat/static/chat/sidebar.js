// The chat page's sidebar: the list of the person's conversations, grouped under day headings, each
// with "writing…" while a reply is written and Rename / Delete (inline, no dialogs); the search that
// replaces the list while a query is typed; and the "Conversations" button that opens the sidebar on
// a phone. Renames, deletions and replies being written reach every tab of the person
// (docs/protocol.md "The sidebar"); a tab showing a deleted conversation leaves it for the new-chat page.
// Loaded before chat.js, which calls it through `window.chatPage.sidebar` (below) and hands it the
// page's shared helpers on `window.chatPage` (documented in chat.js).
(function () {
  "use strict";

  const page = (window.chatPage = window.chatPage || {});
  const list = document.getElementById("conversation-list");
  const listEmpty = document.getElementById("conversation-list-empty");

  const NOTICE_KEY = "chat-notice";
  const SEARCH_DELAY_MS = 200;
  const search = { input: null, results: null, empty: null, timer: null, counter: 0 };

  function sidebarItem(id) {
    return list.querySelector('li.conversation-item[data-conversation-id="' + Number(id) + '"]');
  }

  function newSidebarItem(id, title, updatedAt, writing) {
    const li = page.el("li", { class: "conversation-item", "data-conversation-id": String(id), "data-updated-at": updatedAt });
    li.appendChild(page.el("a", { href: page.conversationUrl(id), "data-conversation-id": String(id) }));
    li.appendChild(page.el("span", { class: "conversation-writing", title: "A reply is being written" }, "writing…"));
    const actions = page.el("span", { class: "conversation-actions" });
    actions.appendChild(page.el("button", { type: "button", class: "conversation-action", "data-action": "rename" }, "Rename"));
    actions.appendChild(page.el("button", { type: "button", class: "conversation-action", "data-action": "delete" }, "Delete"));
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

  function markCurrent(link) {
    list.querySelectorAll("a[aria-current]").forEach((a) => a.removeAttribute("aria-current"));
    if (link) link.setAttribute("aria-current", "page");
  }

  // The conversation this tab just started: first in the list (a reply is being written), marked current.
  function addCurrent(id, title) {
    const li = newSidebarItem(id, title, new Date().toISOString(), true);
    list.prepend(li);
    groupByDay();
    markCurrent(li.querySelector("a"));
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
    const input = page.el("input", { type: "text", class: "rename-input", maxlength: "200", "aria-label": "New title" });
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
    if (page.sendFrame({ type: "conversation.rename", conversation_id: Number(li.dataset.conversationId), title: title })) {
      setItemTitle(li, title);
    } else {
      page.showNotice("Not connected: the title was not changed.");
    }
  }

  // Delete after an inline "Delete? Yes / No" (no window.confirm: it blocks the page and every tab's socket).
  function askDelete(li) {
    if (li.querySelector(".delete-confirm")) return;
    const actions = li.querySelector(".conversation-actions");
    const name = li.querySelector("a").textContent;
    const box = page.el("span", { class: "delete-confirm", role: "group", "aria-label": "Delete " + name + "?" });
    box.appendChild(page.el("span", {}, "Delete?"));
    const yes = page.el("button", { type: "button", class: "button button-danger" }, "Yes");
    const no = page.el("button", { type: "button", class: "button button-quiet" }, "No");
    box.appendChild(yes);
    box.appendChild(no);
    const close = () => {
      box.remove();
      actions.hidden = false;
      li.querySelector('[data-action="delete"]').focus();
    };
    yes.addEventListener("click", () => {
      close();
      if (!page.sendFrame({ type: "conversation.delete", conversation_id: Number(li.dataset.conversationId) })) {
        page.showNotice("Not connected: nothing was deleted.");
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
    if (frame.conversation_id === page.conversationId()) document.title = (frame.title || "Conversation") + " · Chat";
  }

  function onConversationDeleted(frame) {
    const li = sidebarItem(frame.conversation_id);
    if (li) li.remove();
    groupByDay();
    if (frame.conversation_id !== page.conversationId()) return;
    window.sessionStorage.setItem(NOTICE_KEY, "This conversation was deleted.");
    page.leave(document.querySelector(".new-chat").getAttribute("href"));
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
      page.keepNotice(notice); // shown now and once connected, like a close notice
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
    list.querySelectorAll("li.conversation-day").forEach((heading) => heading.remove());
    const items = Array.from(list.querySelectorAll("li.conversation-item"));
    const when = (li) => Date.parse(li.dataset.updatedAt) || 0;
    items.sort((a, b) => when(b) - when(a) || Number(b.dataset.conversationId) - Number(a.dataset.conversationId));
    const now = new Date();
    let current = null;
    items.forEach((li) => {
      const group = dayGroup(new Date(when(li)), now);
      if (group !== current) {
        const heading = page.el("li", { class: "conversation-day" }); // a plain item: a list may hold only <li> (axe "list")
        heading.appendChild(page.el("h3", {}, group));
        list.appendChild(heading);
        current = group;
      }
      list.appendChild(li);
    });
    listEmpty.hidden = items.length > 0;
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
    list.hidden = searching;
    document.getElementById("conversations-title").hidden = searching;
    listEmpty.hidden = searching || list.querySelector("li.conversation-item") !== null;
    search.results.replaceChildren();
    showSearchMessage(searching && items.length === 0 ? "Nothing found." : "");
    if (!searching) return;
    items.forEach((item) => {
      const li = page.el("li", { class: "search-result", "data-conversation-id": String(item.id) });
      const link = page.el("a", { href: page.conversationUrl(item.id) });
      link.appendChild(marked(item.title || "Untitled", query));
      li.appendChild(link);
      if (item.snippet) {
        const snippet = page.el("p", { class: "search-result-snippet" });
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
      fragment.appendChild(page.el("mark", {}, match[0]));
      last = match.index + match[0].length;
    }
    if (last < text.length) fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  function setUpSidebar() {
    search.input = document.getElementById("conversation-search");
    search.results = document.getElementById("search-results");
    search.empty = document.getElementById("search-empty");
    list.addEventListener("click", onSidebarClick);
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
    const li = page.conversationId() ? sidebarItem(page.conversationId()) : null;
    if (li) setWriting(li, frame.type === "assistant.started");
  }

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

  page.sidebar = {
    setUp: () => {
      setUpSidebar();
      setUpSidebarToggle();
    },
    has: (id) => sidebarItem(id) !== null, // already listed (told twice)
    addCurrent: addCurrent,
    // News of any of the person's conversations, whichever this tab shows.
    handlers: {
      "conversation.renamed": onConversationRenamed,
      "conversation.deleted": onConversationDeleted,
      "conversation.writing": onConversationWriting,
    },
    followFrame: markFollowedWriting, // each frame of the conversation this tab shows
  };
})();
