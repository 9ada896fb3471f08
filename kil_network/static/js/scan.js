/* Scan tickets at the door. The phone's camera (facing away from the screen) is read into a canvas
   a few times a second and jsQR (served from /vendor, like htmx) looks for a QR code; a ticket URL
   (…/t/<code>) is typed into the page's code form and the form is submitted, so htmx posts it with
   the CSRF token and swaps the result in. The same code in view again is sent once, not every frame.
   Without a camera (refused, none, an old browser) the form is there to type the code. */
(function () {
  "use strict";

  var box = document.querySelector("[data-scan-camera]");
  var form = document.getElementById("scan-form");
  if (!box || !form) {
    return;
  }
  var video = document.getElementById("scan-video");
  var status = document.getElementById("scan-camera-status");
  var start = document.getElementById("scan-camera-start");
  var input = document.getElementById("scan-code");
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  var SAME_CODE_QUIET_MS = 5000; // the same ticket is sent again only after this long out of view
  var FRAME_GAP_MS = 120;
  var MAX_SIDE = 640;
  var stream = null;
  var sending = false;
  var lastCode = "";
  var lastSeen = 0;

  function say(text) {
    status.textContent = text;
  }

  function ticketCode(text) {
    var at = text.lastIndexOf("/t/");
    if (at < 0) {
      return "";
    }
    return text.slice(at + 3).split(/[?#/]/)[0];
  }

  function send(code) {
    sending = true;
    input.value = code;
    say("Ticket read. Checking…");
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function look() {
    var width = video.videoWidth;
    var height = video.videoHeight;
    if (!width || !height) {
      return;
    }
    var scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    var image = context.getImageData(0, 0, canvas.width, canvas.height);
    var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
    if (!found || !found.data) {
      return;
    }
    var code = ticketCode(found.data);
    var now = Date.now();
    if (!code) {
      say("That QR code is not a ticket.");
      return;
    }
    if (code === lastCode && now - lastSeen < SAME_CODE_QUIET_MS) {
      lastSeen = now;
      return;
    }
    lastCode = code;
    lastSeen = now;
    send(code);
  }

  function tick() {
    if (!stream) {
      return;
    }
    if (!sending && video.readyState >= 2) {
      look();
    }
    window.setTimeout(function () {
      window.requestAnimationFrame(tick);
    }, FRAME_GAP_MS);
  }

  function stop() {
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
      stream = null;
    }
  }

  function startCamera() {
    box.hidden = false;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof window.jsQR !== "function") {
      video.hidden = true;
      say("This browser cannot use the camera here. Type the code below.");
      return;
    }
    say("Starting the camera…");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (camera) {
        stream = camera;
        video.hidden = false;
        video.srcObject = camera;
        start.hidden = true;
        return video.play();
      })
      .then(function () {
        say("Point the camera at the QR code on the ticket.");
        tick();
      })
      .catch(function (error) {
        stop();
        video.hidden = true;
        start.hidden = false;
        say(error && error.name === "NotAllowedError"
          ? "The camera is not allowed. Allow it for this site and press Start the camera, or type the code below."
          : "The camera could not start. Type the code below, or try again.");
      });
  }

  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt === form) {
      sending = false;
      input.value = "";
      if (stream) {
        say("Point the camera at the next ticket.");
      }
    }
  });
  // A new result is brought into view (the camera stays above it).
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var result = event.detail.target.id === "scan-result" && event.detail.target.querySelector(".scan-result");
    if (result && result.scrollIntoView) {
      result.scrollIntoView({ block: "nearest" });
    }
  });
  start.addEventListener("click", startCamera);
  window.addEventListener("pagehide", stop);
  startCamera();
}());
