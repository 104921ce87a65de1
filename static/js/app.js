// Keyboard-first labeling: number keys pick a label, S skips. Works on whatever card htmx swapped in.
(function () {
  "use strict";
  let shownAt = performance.now();
  let busy = false;

  function elapsedSeconds() {
    return ((performance.now() - shownAt) / 1000).toFixed(2);
  }

  document.addEventListener("htmx:beforeRequest", function () { busy = true; });
  ["htmx:afterSettle", "htmx:responseError", "htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function () { busy = false; });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "workspace") {
      shownAt = performance.now();
    }
  });

  // Time spent on a record travels with the label, for throughput figures.
  document.addEventListener("htmx:configRequest", function (event) {
    const elt = event.detail.elt;
    const form = elt && elt.closest ? elt.closest("form") : null;
    if (form && form.querySelector('input[name="seconds"]')) {
      event.detail.parameters["seconds"] = elapsedSeconds();
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
    if (!button || button.disabled) return;
    event.preventDefault();
    // A key pressed while the previous label is on its way, or before htmx has wired the new card
    // (it does so when the swap settles), would land on the wrong record or bypass htmx.
    if (busy) return;
    button.click();
  });
})();
