// Keyboard-first labeling: number keys pick a label, S skips. Works on whatever card htmx swapped in.
(function () {
  "use strict";
  let shownAt = performance.now();

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "workspace") {
      shownAt = performance.now();
    }
  });

  // Time spent on a record travels with the label, for throughput figures.
  document.addEventListener("htmx:configRequest", function (event) {
    if ("seconds" in event.detail.parameters) {
      event.detail.parameters.seconds = ((performance.now() - shownAt) / 1000).toFixed(2);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
    const workspace = document.getElementById("workspace");
    if (!workspace) return;
    const key = event.key.toLowerCase();
    const button = workspace.querySelector('button[data-key="' + CSS.escape(key) + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
})();
