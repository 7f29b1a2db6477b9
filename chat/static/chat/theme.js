// Light or dark: the person's choice when they made one (localStorage), else the system's preference.
// Loaded in <head> without defer, so the page is painted in the right theme from the start.
(function () {
  "use strict";

  const KEY = "chat-theme";
  const system = window.matchMedia("(prefers-color-scheme: dark)");

  function chosen() {
    try {
      const value = window.localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (err) {
      return null; // storage refused (privacy mode): follow the system
    }
  }

  function current() {
    return chosen() || (system.matches ? "dark" : "light");
  }

  function toggles() {
    return document.querySelectorAll("[data-theme-toggle]");
  }

  function apply() {
    const theme = current();
    document.documentElement.dataset.theme = theme;
    toggles().forEach((button) => button.setAttribute("aria-pressed", String(theme === "dark")));
  }

  function toggle() {
    try {
      window.localStorage.setItem(KEY, current() === "dark" ? "light" : "dark");
    } catch (err) {
      return;
    }
    apply();
  }

  apply();
  system.addEventListener("change", apply);
  window.addEventListener("storage", (event) => {
    if (event.key === KEY) apply(); // another tab chose
  });
  document.addEventListener("DOMContentLoaded", () => {
    toggles().forEach((button) => {
      button.hidden = false; // without this script the button could do nothing
      button.addEventListener("click", toggle);
    });
    apply();
  });
})();
