// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Turn the council <select> into the GOV.UK accessible type-ahead when the library loaded.
  function enhanceAutocompletes(root) {
    if (typeof window.accessibleAutocomplete === "undefined") { return; }
    root.querySelectorAll("select[data-autocomplete]").forEach(function (select) {
      if (select.dataset.enhanced) { return; }
      select.dataset.enhanced = "true";
      window.accessibleAutocomplete.enhanceSelectElement({
        selectElement: select,
        defaultValue: "",
        showAllValues: false,
        dropdownArrow: function () { return ""; },
        tNoResults: function () { return "No council found"; }
      });
    });
  }

  // After htmx swaps a form with errors in, move focus to the error summary (GOV.UK pattern).
  function focusErrorSummary(root) {
    var summary = root.querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
  }

  // A file over a field's limit (data-max-bytes) is refused before the form is sent: a body over
  // the server's cap could not be read back, so what was typed with it could not be shown again.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) { return; }
    var limit = parseInt(input.getAttribute("data-max-bytes"), 10);
    var file = input.files && input.files[0];
    input.setCustomValidity(file && file.size > limit ? input.getAttribute("data-too-large") : "");
    input.reportValidity();
  });

  document.addEventListener("DOMContentLoaded", function () {
    enhanceAutocompletes(document);
    focusErrorSummary(document);
  });
  // A refused form's page opens at the form (its action carries a #fragment, for pages read
  // without JavaScript); scrolling to the fragment can take the focus away again, so once the
  // page has loaded, focus the summary again unless the person has moved on.
  window.addEventListener("load", function () {
    var active = document.activeElement;
    if (!active || active === document.body) { focusErrorSummary(document); }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    enhanceAutocompletes(event.detail.elt.parentNode || document);
    focusErrorSummary(event.detail.elt.parentNode || document);
  });
})();
