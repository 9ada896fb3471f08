// The presenter screen (templates/principles/staff/present.html). Its poller element asks the
// server every second what changed; an answer that is an error (a 500 while the server restarts,
// a 502 from a proxy) must not be swapped in place of the poller, or the screen would stop
// following the control for the rest of the session. Network errors swap nothing anyway.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "present-poll" && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = false;
      event.detail.isError = false;
    }
  });
})();
