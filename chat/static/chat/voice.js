// Voice messages on the chat page. Press Record: the microphone is captured by an AudioWorklet
// (recorder-worklet.js) as 16 kHz mono 16-bit PCM and streamed in ~100 ms binary frames between
// audio.start and audio.end (docs/protocol.md "Voice messages"). Press again to send, Escape or Cancel
// to drop it. The transcript comes back as message.created. Also the players of recordings and of
// replies read aloud, and the "Speak replies" choice.
// Loaded before chat.js, which calls it through `window.chatPage.voice` (below) and hands it the
// page's shared helpers on `window.chatPage` (documented in chat.js).
(function () {
  "use strict";

  const page = (window.chatPage = window.chatPage || {});
  const dom = {
    record: document.getElementById("record"),
    recording: document.getElementById("recording"),
    recordingTime: document.getElementById("recording-time"),
    recordingLevel: document.getElementById("recording-level"),
    recordingCancel: document.getElementById("recording-cancel"),
    speak: document.getElementById("speak-replies"),
  };

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
    if (voice.recording || voice.starting || page.busy() || !page.connected()) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode) {
      page.showNotice("This browser cannot record audio here (it needs a secure page and AudioWorklet).");
      return;
    }
    voice.starting = true;
    page.updateControls();
    let stream = null;
    let context = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
      context = new AudioContext({ sampleRate: page.config.voice.sampleRate });
      await context.audioWorklet.addModule(page.config.voice.workletUrl);
    } catch (err) {
      voice.starting = false;
      if (stream) stream.getTracks().forEach((track) => track.stop());
      if (context) context.close();
      page.showNotice(microphoneProblem(err));
      page.updateControls();
      return;
    }
    voice.starting = false;
    if (!page.connected()) {
      stream.getTracks().forEach((track) => track.stop());
      context.close();
      page.updateControls();
      return;
    }
    const node = new AudioWorkletNode(context, "pcm-recorder");
    const recording = { clientId: page.newClientId(), stream: stream, context: context, node: node, began: performance.now(), timer: null, onLast: null };
    node.port.onmessage = (event) => onRecorded(recording, event.data);
    context.createMediaStreamSource(stream).connect(node);
    node.connect(context.destination); // pulled by the graph; it outputs silence
    const frame = { type: "audio.start", client_id: recording.clientId, format: "pcm_s16le", sample_rate: context.sampleRate, conversation_id: page.conversationId() || null };
    Object.assign(frame, page.chosenParticipants(), speakChoice());
    delete frame.rounds;
    voice.recording = recording;
    page.sendFrame(frame);
    page.showNotice("");
    recording.timer = window.setInterval(() => tickRecording(recording), 200);
    tickRecording(recording);
    dom.recording.hidden = false;
    dom.record.textContent = "Send recording";
    dom.record.setAttribute("aria-pressed", "true");
    page.updateControls();
  }

  function tickRecording(recording) {
    const seconds = Math.floor((performance.now() - recording.began) / 1000);
    dom.recordingTime.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    if (seconds >= page.config.voice.maxSeconds) finishRecording(); // the server's limit: send what there is
  }

  function onRecorded(recording, data) {
    if (voice.recording !== recording && !recording.onLast) return;
    if (data.pcm.byteLength) page.sendBinary(data.pcm);
    dom.recordingLevel.value = data.level;
    if (data.last && recording.onLast) recording.onLast();
  }

  // Press again: the worklet hands over its last samples, then audio.end; the transcript shows as the message.
  function finishRecording() {
    const recording = voice.recording;
    if (!recording || recording.onLast) return;
    recording.onLast = () => {
      releaseMicrophone(recording);
      if (!page.sendFrame({ type: "audio.end", client_id: recording.clientId })) {
        page.showNotice("Not connected: the recording was not sent.");
        return;
      }
      const item = page.renderMessage("user", null, "sending");
      item.body.textContent = "Transcribing…";
      page.pending.set(recording.clientId, { el: item.el, frame: null });
      page.setBusy(true);
    };
    recording.node.port.postMessage("flush");
  }

  // Escape or Cancel: nothing is sent, and the server drops what it has of it.
  function cancelRecording() {
    const recording = voice.recording;
    if (!recording) return;
    page.sendFrame({ type: "audio.cancel", client_id: recording.clientId });
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
    page.updateControls();
  }

  // A reply read aloud (or why it could not be): a player under it, playing at once.
  function onAssistantAudio(frame) {
    const item = page.items.get(frame.seq);
    if (!item) return;
    if (frame.audio_url) {
      const player = showAudio(item, frame.audio_url, "Reply read aloud", true);
      if (player) player.play().catch(() => {}); // a browser may refuse autoplay: the control stays
    } else {
      page.setFootnote(item, "message-note", frame.error || "The reply could not be read aloud.");
    }
  }

  function showAudio(item, url, label, fresh) {
    if (!url) return null;
    let player = item.el.querySelector("audio.message-audio");
    if (player && player.getAttribute("src") === url) return fresh ? player : null;
    if (!player) {
      player = page.el("audio", { class: "message-audio", controls: "", preload: "metadata", "aria-label": label });
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

  // Record is free while nothing else is: not while a reply is written, offline, or the microphone starts.
  function updateRecordButton() {
    if (dom.record) dom.record.disabled = !voice.recording && (page.busy() || !page.connected() || voice.starting);
  }

  page.voice = {
    setUp: setUpVoice,
    updateControls: updateRecordButton,
    speakChoice: speakChoice, // what a message.send or audio.start adds: {speak: true} or nothing
    showAudio: showAudio,
    // An error frame for the recording being made: the server refused it (and said why).
    refused: (frame) => {
      if (voice.recording && frame.client_id === voice.recording.clientId) cancelRecording();
    },
    handlers: { "assistant.audio": onAssistantAudio },
  };
})();
