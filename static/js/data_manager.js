// The data manager: row selection, the bulk action form's extra fields, the export dialog.
(function () {
  "use strict";

  function checkedIds() {
    return Array.from(document.querySelectorAll("input[name=ids]:checked")).map((box) => box.value);
  }

  function showActionFields() {
    const action = document.getElementById("bulk-action");
    if (!action) return;
    document.querySelectorAll(".for-assign, .for-model_job").forEach((field) => {
      field.hidden = !field.classList.contains("for-" + action.value);
    });
  }

  document.addEventListener("change", (event) => {
    if (event.target.id === "select-all") {
      document.querySelectorAll("input[name=ids]").forEach((box) => { box.checked = event.target.checked; });
    }
    if (event.target.id === "bulk-action") showActionFields();
  });

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.dialog);
      const scope = dialog.querySelector("#export-scope");
      if (scope && opener.hasAttribute("data-export-selected")) scope.value = "selected";
      dialog.showModal();
    }
    if (event.target.closest("[data-close-dialog]")) event.target.closest("dialog").close();
  });

  document.addEventListener("submit", (event) => {
    if (event.target.id !== "export-form") return;
    const scope = event.target.querySelector("#export-scope");
    const ids = checkedIds();
    if (scope.value === "selected" && ids.length === 0) {
      event.preventDefault();
      alert("Select some rows first, or export the filtered records.");
      return;
    }
    event.target.querySelector("#export-ids").value = scope.value === "selected" ? ids.join(",") : "";
    // The download starts; the dialog has done its job.
    setTimeout(() => event.target.closest("dialog").close(), 0);
  });

  document.addEventListener("DOMContentLoaded", showActionFields);
})();

// The project page's "Export…" links here with #export: open the dialog at once.
document.addEventListener("DOMContentLoaded", () => {
  const dialog = document.getElementById("export-dialog");
  if (dialog && window.location.hash === "#export") dialog.showModal();
});
