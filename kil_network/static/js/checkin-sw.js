// The check-in page's service worker: the page opens (and reloads) through a Wi-Fi drop.
//
// Served from /staff/workshops/checkin-sw.js, so it controls the pages under /staff/workshops/
// only, and of those it answers just the check-in page and the CSS and JS it loads (htmx
// included); every other request goes to the network untouched.
// - The check-in page (/staff/workshops/<id>/attendance, a whole-page load): network first, a
//   copy kept of each complete answer (the search box empty: every registration); the copy when
//   the network fails.
// - CSS and JS (htmx from the CDN too, when it comes from there): network first, as above.
// A network that has not answered within a few seconds counts as failed when there is a copy.
// Posts (check-ins, the queue sent later) always go to the network: checkin-offline.js queues
// what fails. The list as data (…/attendance.json) is not kept here either: checkin-offline.js keeps
// it in IndexedDB and must see a failed fetch fail (it tells staff they are offline).
// Nothing here runs inline, so the app's CSP (script-src 'self') is kept.
"use strict";

var CACHE = "kil-checkin-v1";
var PAGE = /^\/staff\/workshops\/\d+\/attendance$/;
var ASSET = /^\/(static\/(css|js)\/[\w.\-/]+|vendor\/[\w.\-]+)$/;

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("kil-checkin-") === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

// Is this answer a copy worth keeping: a complete 200 from the URL asked for (not a redirect to
// the sign-in page after the session ended)?
function keepable(response, url) {
  return response && response.ok && !response.redirected && (response.type === "basic" || response.type === "cors")
    && (!response.url || new URL(response.url).pathname === new URL(url).pathname);
}

function offlineAnswer() {
  return new Response("You are offline and this page was not kept on this phone.",
    { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
}

// The network's answer (a copy kept under `key`), or the copy if the network fails, or if it
// has not answered within `patience` ms and there is a copy (Wi-Fi that is there but barely).
function networkFirst(request, key, patience) {
  var fromCache = function () {
    return caches.open(CACHE).then(function (cache) {
      return cache.match(key, { ignoreSearch: true, ignoreVary: true });
    });
  };
  return new Promise(function (resolve) {
    var done = false;
    var finish = function (response) { if (!done) { done = true; resolve(response); } };
    var timer = setTimeout(function () {
      fromCache().then(function (copy) { if (copy) { finish(copy); } });
    }, patience);
    fetch(request).then(function (response) {
      clearTimeout(timer);
      if (keepable(response, request.url)) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { return cache.put(key, copy); });
      }
      finish(response);
    }).catch(function () {
      clearTimeout(timer);
      fromCache().then(function (copy) { finish(copy || offlineAnswer()); });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  var sameOrigin = url.origin === self.location.origin;
  if (sameOrigin && PAGE.test(url.pathname) && request.mode === "navigate") {
    // Kept under the address without ?q=: the page is kept only when it lists everyone (a page
    // searched on the server holds some people only), and answers for any search offline.
    var key = url.origin + url.pathname;
    event.respondWith(url.searchParams.get("q") ? fetch(request).catch(function () {
      return networkFirst(request, key, 0);
    }) : networkFirst(request, key, 5000));
  } else if ((sameOrigin && ASSET.test(url.pathname))
             || (!sameOrigin && (request.destination === "script" || request.destination === "style"))) {
    event.respondWith(networkFirst(request, request.url, 3000));
  }
});

// The page tells the worker what it loaded before the worker controlled it (the first visit):
// keep those copies now, so the next load works offline. Same-origin URLs of the kinds above only.
self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type !== "keep" || !Array.isArray(data.urls)) { return; }
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return Promise.all(data.urls.slice(0, 20).map(function (href) {
      var url;
      try { url = new URL(href, self.location.origin); } catch (error) { return null; }
      var path = url.pathname;
      var page = PAGE.test(path) && !url.searchParams.get("q");
      var crossAsset = url.origin !== self.location.origin && (data.crossOrigin || []).indexOf(url.href) !== -1;
      if (!(url.origin === self.location.origin && (page || ASSET.test(path))) && !crossAsset) { return null; }
      var key = page ? url.origin + path : url.href;
      return cache.match(key, { ignoreVary: true }).then(function (copy) {
        if (copy) { return null; }
        var request = new Request(url.href, { mode: crossAsset ? "cors" : "same-origin", credentials: "same-origin" });
        return fetch(request).then(function (response) {
          return keepable(response, url.href) ? cache.put(key, response) : null;
        });
      }).catch(function () { return null; });
    }));
  }));
});
