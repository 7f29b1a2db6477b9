// Screen-reader announcements on the chat page (the #announce-polite and #announce-assertive live
// regions). The message log is not a live region (it would read every token). Instead: one polite
// announcement when a reply starts, one when its turn ends, and a failure said assertively.
// Each speaker is announced once per turn, so a tool round does not start the reply again.
// Loaded before chat.js, which hands it each frame of the open conversation through
// `window.chatPage.announcements.frame` before handling the frame itself.
(function () {
  "use strict";

  const page = (window.chatPage = window.chatPage || {});
  const announced = { speaker: null };

  function announce(politeness, text) {
    const region = document.getElementById("announce-" + politeness);
    if (region) region.textContent = text;
  }

  function announceFor(frame) {
    if (frame.type === "assistant.started") {
      const name = frame.participant ? frame.participant.name : page.roleNames.assistant;
      if (announced.speaker !== name) announce("polite", name + " is replying…");
      announced.speaker = name;
    } else if (frame.type === "turn.finished") {
      if (announced.speaker === null && !page.busy()) return; // an old turn this tab did not see start
      announced.speaker = null;
      if (frame.status === "failed") announce("assertive", "Reply failed: " + (frame.error || "unknown error"));
      else announce("polite", frame.status === "stopped" ? "Reply stopped." : "Reply complete.");
    }
  }

  page.announcements = { frame: announceFor };
})();
