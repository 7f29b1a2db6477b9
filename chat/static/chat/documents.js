// Documents on the chat page (docs/documents.md): attach with the button or by dropping files on the
// composer, see them in the conversation's header, download, detach, and switch quote/research mode.
// Uploads and changes go through the HTTP API with this page's session and CSRF token; every tab on
// the conversation hears the result as a `conversation.documents` frame (chat.js passes them on).
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("chat-config").textContent).documents;
  const page = window.chatPage;
  const dom = {
    section: document.getElementById("documents"),
    list: document.getElementById("document-list"),
    mode: document.getElementById("document-mode"),
    modeHint: document.getElementById("document-mode-hint"),
    cut: document.getElementById("documents-cut"),
    input: document.getElementById("document-input"),
    attach: document.getElementById("attach"),
    composer: document.getElementById("composer"),
    status: document.getElementById("upload-status"),
    error: document.getElementById("upload-error"),
  };
  if (!config || !page || !dom.attach) return;

  let uploading = false;
  // What each mode does, shown once the server has it (docs/documents.md).
  const MODE_HINTS = {
    quote: "The model gets their text (up to the quote budget) and cites the page it used.",
    research: "The model searches them with a tool and cites the passages it found.",
  };

  function csrfToken() {
    const field = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return field ? field.value : "";
  }

  function url(template, id) {
    return template.replace("/0/", "/" + id + "/");
  }

  function showStatus(text) {
    dom.status.textContent = text;
    dom.status.hidden = !text;
  }

  function showError(text) {
    dom.error.textContent = text;
    dom.error.hidden = !text;
  }

  function problemText(xhrOrResponseText, status) {
    try {
      const problem = JSON.parse(xhrOrResponseText);
      if (problem && problem.detail) return problem.detail;
    } catch (err) {
      // not JSON: a proxy's page
    }
    return status ? "The server answered " + status + "." : "The connection failed.";
  }

  // One request with the session's CSRF token; resolves {status, body} and never rejects.
  function request(method, target, body, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, target);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.timeout = 120000;
      if (!(body instanceof FormData) && body !== undefined) xhr.setRequestHeader("Content-Type", "application/json");
      if (onProgress) xhr.upload.addEventListener("progress", onProgress);
      if (onProgress) xhr.upload.addEventListener("load", () => onProgress(null));
      xhr.addEventListener("load", () => resolve({ status: xhr.status, text: xhr.responseText }));
      xhr.addEventListener("error", () => resolve({ status: 0, text: "" }));
      xhr.addEventListener("timeout", () => resolve({ status: 0, text: "" }));
      xhr.send(body instanceof FormData ? body : body === undefined ? null : JSON.stringify(body));
    });
  }

  function json(answer) {
    try {
      return JSON.parse(answer.text);
    } catch (err) {
      return null;
    }
  }

  async function uploadOne(file) {
    if (file.size > config.maxBytes) {
      return { error: file.name + ": the file is " + mb(file.size) + "; the limit is " + mb(config.maxBytes) + "." };
    }
    const form = new FormData();
    form.append("file", file, file.name);
    const answer = await request("POST", config.uploadUrl, form, (event) => {
      if (event === null) showStatus("Reading the text of " + file.name + "…");
      else if (event.lengthComputable) showStatus("Uploading " + file.name + "… " + Math.round((100 * event.loaded) / event.total) + "%");
    });
    if (answer.status === 200 || answer.status === 201) return { document: json(answer) };
    const problem = json(answer);
    return { error: file.name + ": " + problemText(answer.text, answer.status), overQuota: Boolean(problem && problem.code === "over_quota") };
  }

  function mb(bytes) {
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  // A new chat has no conversation yet: make one (with the chosen participants) to attach to.
  async function ensureConversation(names) {
    const id = page.conversationId();
    if (id) return { id: id, created: false };
    const chosen = page.chosenParticipants();
    const body = { title: "About " + names.join(", ").slice(0, 180) };
    if (chosen.persona_ids) body.persona_ids = chosen.persona_ids;
    const answer = await request("POST", config.conversationsUrl, body);
    if (answer.status !== 201) return { error: "The conversation could not be started: " + problemText(answer.text, answer.status) };
    return { id: json(answer).id, created: true };
  }

  async function addFiles(files) {
    files = Array.from(files || []);
    if (files.length === 0 || uploading) return;
    uploading = true;
    dom.attach.disabled = true;
    showError("");
    const errors = [];
    const ids = [];
    let overQuota = false;
    for (const file of files) {
      const result = await uploadOne(file);
      if (result.document) ids.push(result.document.id);
      else errors.push(result.error);
      if (result.overQuota) overQuota = true;
    }
    if (ids.length > 0) {
      showStatus("Attaching…");
      const conversation = await ensureConversation(files.map((f) => f.name));
      if (conversation.error) {
        errors.push(conversation.error);
      } else {
        const answer = await request("POST", url(config.attachUrl, conversation.id), { document_ids: ids });
        if (answer.status !== 200) errors.push("Not attached: " + problemText(answer.text, answer.status));
        else if (conversation.created) {
          window.location.assign(page.conversationUrl(conversation.id)); // open it: its header lists the documents
          return;
        } else show(json(answer));
      }
    }
    showStatus("");
    showError(errors.join(" "));
    if (overQuota) {
      const manage = document.createElement("a");
      manage.href = config.manageUrl;
      manage.textContent = "Manage your documents";
      dom.error.append(" ", manage);
    }
    uploading = false;
    dom.attach.disabled = false;
  }

  // --- the conversation's header ----------------------------------------------------------------

  function show(frame) {
    if (!frame || !dom.section) return;
    const documents = frame.documents || [];
    dom.list.replaceChildren(...documents.map(item));
    dom.mode.value = frame.document_mode || "quote";
    dom.modeHint.textContent = MODE_HINTS[dom.mode.value] || "";
    dom.cut.hidden = !frame.quote_cut;
    dom.section.hidden = documents.length === 0;
  }

  function item(documentInfo) {
    const li = document.createElement("li");
    li.className = "document-chip";
    li.dataset.documentId = documentInfo.id;
    const link = document.createElement("a");
    link.href = url(config.downloadUrl, documentInfo.id);
    link.textContent = documentInfo.name;
    link.setAttribute("download", "");
    li.appendChild(link);
    if (documentInfo.pages) {
      const pages = document.createElement("span");
      pages.className = "document-pages";
      pages.textContent = documentInfo.pages + (documentInfo.pages === 1 ? " page" : " pages");
      li.appendChild(pages);
    }
    const detach = document.createElement("button");
    detach.type = "button";
    detach.className = "button button-quiet document-detach";
    detach.textContent = "×";
    detach.setAttribute("aria-label", "Detach " + documentInfo.name);
    detach.addEventListener("click", () => change("DELETE", url(config.attachUrl, page.conversationId()) + "/" + documentInfo.id));
    li.appendChild(detach);
    return li;
  }

  async function change(method, target, body) {
    showError("");
    const answer = await request(method, target, body);
    if (answer.status === 200) show(json(answer));
    else showError(problemText(answer.text, answer.status));
  }

  // --- wiring ------------------------------------------------------------------------------------

  document.addEventListener("chat:frame", (event) => {
    const frame = event.detail;
    if (frame.type === "conversation.opened" || frame.type === "conversation.documents") show(frame);
  });
  dom.attach.addEventListener("click", () => dom.input.click());
  dom.input.addEventListener("change", () => {
    const files = dom.input.files;
    addFiles(files).finally(() => {
      dom.input.value = "";
    });
  });
  dom.mode.addEventListener("change", () => {
    const id = page.conversationId();
    if (id) change("PATCH", url(config.attachUrl, id), { mode: dom.mode.value });
  });
  dom.composer.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    dom.composer.classList.add("dropping");
  });
  dom.composer.addEventListener("dragleave", () => dom.composer.classList.remove("dropping"));
  dom.composer.addEventListener("drop", (event) => {
    if (!event.dataTransfer || event.dataTransfer.files.length === 0) return;
    event.preventDefault();
    dom.composer.classList.remove("dropping");
    addFiles(event.dataTransfer.files);
  });
})();
