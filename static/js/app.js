// Keyboard-first labeling. Works on whatever card htmx swapped into #workspace:
// - a button or toggle with data-key="k" is pressed by key k (in the open panel, if one is open);
// - data-opens="panel-id" opens a panel (skip reasons, comment) whose keys then take over;
// - span tasks: select text, press a tag's key; Backspace removes the last span;
// - Ctrl+Enter submits the form of a text box; Esc leaves a text box or closes a panel;
// - plain Enter in a one-line box of a label form only leaves the box (it never picks a label);
// - a key pressed while a label is saving is ignored, and a notice says so.
(function () {
  "use strict";
  let shownAt = performance.now();
  let busy = false;

  function elapsedSeconds() {
    return ((performance.now() - shownAt) / 1000).toFixed(2);
  }

  // Mirrored on <body data-busy> so styles (and browser tests) can see a label in flight.
  function setBusy(value) {
    busy = value;
    document.body.dataset.busy = value ? "true" : "false";
  }
  document.addEventListener("htmx:beforeRequest", function () { setBusy(true); });
  ["htmx:afterSettle", "htmx:responseError", "htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function () { setBusy(false); });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "workspace") {
      shownAt = performance.now();
      renderSpans();
      // Long dialogues: the last turn is what the responses answer, so show it first.
      document.querySelectorAll("#workspace .record-text.prompt").forEach(function (box) {
        box.scrollTop = box.scrollHeight;
      });
      const editor = document.querySelector("#workspace [autofocus]");
      if (editor) editor.focus();
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

  // ---- spans -------------------------------------------------------------------------------
  function spanState() {
    const input = document.getElementById("spans-input");
    const box = document.getElementById("record-text");
    if (!input || !box || !box.classList.contains("span-text")) return null;
    let spans = [];
    try { spans = JSON.parse(input.value || "[]"); } catch (e) { spans = []; }
    return { input: input, box: box, text: box.dataset.text || "", spans: spans };
  }

  function tagName(tag) {
    const el = document.querySelector('[data-tag="' + CSS.escape(tag) + '"]');
    return el ? el.textContent.trim().replace(/^\S+\s+/, "") : tag;
  }

  function renderSpans() {
    const state = spanState();
    if (!state) return;
    const { box, text, spans } = state;
    spans.sort(function (a, b) { return a.start - b.start; });
    box.textContent = "";
    let at = 0;
    spans.forEach(function (span) {
      if (span.start > at) box.appendChild(document.createTextNode(text.slice(at, span.start)));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(span.start, span.end);
      mark.dataset.label = span.label;
      mark.title = tagName(span.label);
      box.appendChild(mark);
      at = span.end;
    });
    if (at < text.length) box.appendChild(document.createTextNode(text.slice(at)));
    const list = document.getElementById("span-list");
    if (list) {
      list.textContent = "";
      spans.forEach(function (span) {
        const item = document.createElement("li");
        item.textContent = text.slice(span.start, span.end) + " → " + tagName(span.label);
        list.appendChild(item);
      });
    }
  }

  function offsetIn(box, node, offset) {
    const range = document.createRange();
    range.setStart(box, 0);
    range.setEnd(node, offset);
    return range.toString().length;
  }

  function addSpan(tag) {
    const state = spanState();
    const selection = window.getSelection();
    if (!state || !selection || selection.rangeCount === 0 || selection.isCollapsed) return false;
    const range = selection.getRangeAt(0);
    if (!state.box.contains(range.startContainer) || !state.box.contains(range.endContainer)) return false;
    let start = offsetIn(state.box, range.startContainer, range.startOffset);
    let end = offsetIn(state.box, range.endContainer, range.endOffset);
    while (start < end && /\s/.test(state.text[start])) start++;
    while (end > start && /\s/.test(state.text[end - 1])) end--;
    if (start >= end) return false;
    // A new span replaces the spans it overlaps: the annotator's latest intent wins.
    const spans = state.spans.filter(function (s) { return s.end <= start || s.start >= end; });
    spans.push({ start: start, end: end, label: tag });
    state.input.value = JSON.stringify(spans);
    selection.removeAllRanges();
    renderSpans();
    return true;
  }

  function removeLastSpan() {
    const state = spanState();
    if (!state || state.spans.length === 0) return false;
    state.spans.sort(function (a, b) { return a.start - b.start; });
    state.spans.pop();
    state.input.value = JSON.stringify(state.spans);
    renderSpans();
    return true;
  }

  // ---- panels ------------------------------------------------------------------------------
  function openPanel(workspace) {
    return workspace.querySelector(".key-scope:not([hidden])");
  }

  function showPanel(id) {
    const panel = document.getElementById(id);
    if (!panel) return;
    panel.hidden = false;
    const field = panel.querySelector("textarea, input[type=text]");
    if (field) field.focus();
  }

  function inTextField(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))
      && !(target.tagName === "INPUT" && ["checkbox", "radio", "hidden"].includes(target.type));
  }

  // Said out loud, so that a fast annotator knows to press the key again once the card is in.
  function keyIgnored(key) {
    let note = document.getElementById("key-ignored");
    if (!note) {
      note = document.createElement("p");
      note.id = "key-ignored";
      note.className = "key-ignored";
      note.setAttribute("role", "status");
      document.body.appendChild(note);
    }
    note.textContent = "Key " + (key.length === 1 ? key.toUpperCase() : key)
      + " ignored: the last label is still saving. Press it again on the next card.";
    note.hidden = false;
    clearTimeout(note.hideTimer);
    note.hideTimer = setTimeout(function () { note.hidden = true; }, 2500);
  }

  // htmx leaves 4xx answers unswapped; a form marked data-show-errors gets its error fragment
  // (e.g. "a rejection needs a reason") shown instead of nothing happening.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status === 400 && elt && elt.closest && elt.closest("[data-show-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("keydown", function (event) {
    const workspace = document.getElementById("workspace");
    if (!workspace) return;
    const target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target && target.form) {
      event.preventDefault();
      if (busy) keyIgnored("Ctrl+Enter"); else target.form.requestSubmit();
      return;
    }
    // The browser would submit the form with its first button (e.g. "A is better") on Enter in
    // a one-line box: a label nobody chose. Enter leaves the box so the choice keys work.
    if (event.key === "Enter" && !event.shiftKey && target && target.tagName === "INPUT"
        && inTextField(target) && target.form && target.form.classList.contains("label-form")) {
      event.preventDefault();
      target.blur();
      return;
    }
    if (event.key === "Escape") {
      if (inTextField(target)) { target.blur(); event.preventDefault(); return; }
      const panel = openPanel(workspace);
      if (panel) { panel.hidden = true; event.preventDefault(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (inTextField(target)) return;
    const key = event.key.toLowerCase();
    const panel = openPanel(workspace);
    if (!panel) {
      const tag = workspace.querySelector('[data-tag-key="' + CSS.escape(key) + '"]');
      if (tag) { event.preventDefault(); addSpan(tag.dataset.tag); return; }
      if (key === "backspace" && removeLastSpan()) { event.preventDefault(); return; }
      const focusable = workspace.querySelector('[data-focus-key="' + CSS.escape(key) + '"]');
      if (focusable) { event.preventDefault(); focusable.focus(); return; }
    }
    const scope = panel || workspace;
    const candidates = Array.from(scope.querySelectorAll('[data-key="' + CSS.escape(key) + '"]'))
      .filter(function (el) { return panel || !el.closest(".key-scope"); });
    const control = candidates[0];
    if (!control) return;
    // A key pressed while the previous label is on its way, or before htmx has wired the new card
    // (it does so when the swap settles), would land on the wrong record or bypass htmx. (The
    // button it names may be disabled for the request's length: still say why nothing happened.)
    if (busy) { event.preventDefault(); keyIgnored(event.key); return; }
    if (control.disabled) return;
    event.preventDefault();
    if (control.dataset.opens) { showPanel(control.dataset.opens); return; }
    control.click();
  });

  document.addEventListener("click", function (event) {
    const opener = event.target.closest && event.target.closest("[data-opens]");
    if (opener && event.isTrusted) showPanel(opener.dataset.opens);
  });
  document.addEventListener("DOMContentLoaded", renderSpans);

  // A <select data-autosubmit> sends its form when changed (the Content-Security-Policy allows
  // no inline handlers).
  document.addEventListener("change", function (event) {
    const select = event.target.closest && event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });

  // An <input data-select-on-click> (a link to copy) selects its whole value when clicked.
  document.addEventListener("click", function (event) {
    const input = event.target.closest && event.target.closest("input[data-select-on-click]");
    if (input) input.select();
  });
})();
