// The GOV.UK character count, for every field whose form-group carries data-character-count
// (templates/_macros.html: the input and textarea macros, from the field's length validator).
// Without this file the limit is still shown ("You can enter up to 2,000 characters") and the
// server refuses a longer text with an error; typing is never stopped (no maxlength attribute),
// so a paste is never cut. With it, the message counts down as people type:
// "You have 120 characters remaining", "You have 20 characters too many". Screen readers hear
// it through a polite live region, updated once typing pauses (as GOV.UK Frontend does).
(function () {
  "use strict";

  function plural(n, one, many) { return n === 1 ? one : many; }

  function message(remaining) {
    var n = Math.abs(remaining).toLocaleString("en-GB");
    if (remaining < 0) {
      return "You have " + n + " " + plural(-remaining, "character", "characters") + " too many";
    }
    return "You have " + n + " " + plural(remaining, "character", "characters") + " remaining";
  }

  // Characters as the server counts them (code points; a line break is one).
  function length(text) {
    return Array.from(text.replace(/\r\n/g, "\n")).length;
  }

  function enhance(group) {
    if (group.dataset.characterCountReady) { return; }
    var limit = parseInt(group.dataset.characterCount, 10);
    var field = group.querySelector("textarea, input");
    var info = group.querySelector(".character-count__message");
    if (!limit || !field || !info) { return; }
    group.dataset.characterCountReady = "true";
    // The static message stays for screen readers (the field's description); the visible count
    // is hidden from them, and a polite live region says the count once typing pauses.
    info.classList.add("visually-hidden");
    var status = document.createElement("div");
    status.className = "hint character-count__status";
    status.setAttribute("aria-hidden", "true");
    var live = document.createElement("div");
    live.className = "visually-hidden character-count__sr-status";
    live.setAttribute("aria-live", "polite");
    info.parentNode.insertBefore(status, info.nextSibling);
    status.parentNode.insertBefore(live, status.nextSibling);
    var timer = null;

    function update(announce) {
      var remaining = limit - length(field.value);
      var text = message(remaining);
      status.textContent = text;
      var over = remaining < 0;
      status.classList.toggle("character-count__status--error", over);
      field.classList.toggle("input--error", over || group.classList.contains("form-group--error"));
      if (announce) {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { live.textContent = text; }, 1000);
      }
    }

    field.addEventListener("input", function () { update(true); });
    update(false);
  }

  function enhanceAll(root) {
    (root || document).querySelectorAll("[data-character-count]").forEach(enhance);
  }

  document.addEventListener("DOMContentLoaded", function () { enhanceAll(document); });
  document.addEventListener("htmx:load", function (event) { enhanceAll(event.detail.elt.parentNode || document); });
})();
