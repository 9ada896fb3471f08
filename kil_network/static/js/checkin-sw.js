// The check-in page's service worker: the page opens (and reloads) through a Wi-Fi drop.
//
// Served from /staff/workshops/checkin-sw.js, so it controls the pages under /staff/workshops/
// only, and of those it answers just the check-in page and the CSS and JS it loads (htmx
// included); every other request goes to the network untouched.
// - The check-in page (/staff/workshops/<id>/attendance, a whole-page load): network first, a
//   copy kept of each complete answer (the search box empty: every registration); the copy when
//   the network fails.
// The list as data (…/attendance.json) is not kept here: checkin-offline.js keeps it in IndexedDB,
// and must see a failed fetch as a failure (it tells staff they are offline).
// - CSS and JS: the copy at once if there is one, refreshed in the background.
// Posts (check-ins, the queue sent later) always go to the network: checkin-offline.js queues
// what fails. Nothing here runs inline, so the app's CSP (script-src 'self') is kept.
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

function networkFirst(request, key) {
  return fetch(request).then(function (response) {
    if (keepable(response, request.url) && key) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { return cache.put(key, copy); });
    }
    return response;
  }).catch(function () {
    return caches.open(CACHE).then(function (cache) {
      return cache.match(key || request.url, { ignoreSearch: true, ignoreVary: true });
    }).then(function (copy) {
      return copy || new Response("You are offline and this page was not kept on this phone.",
        { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    });
  });
}

function cacheThenRefresh(event) {
  var request = event.request;
  var refresh = fetch(request).then(function (response) {
    if (keepable(response, request.url)) {
      var copy = response.clone();
      return caches.open(CACHE).then(function (cache) { return cache.put(request.url, copy); })
        .then(function () { return response; });
    }
    return response;
  });
  event.waitUntil(refresh.catch(function () { return null; }));
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request.url, { ignoreVary: true });
  }).then(function (copy) { return copy || refresh; });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  var sameOrigin = url.origin === self.location.origin;
  if (sameOrigin && PAGE.test(url.pathname) && request.mode === "navigate") {
    // Only the full list is kept: a page searched on the server (?q=) holds some people only.
    var key = url.origin + url.pathname;
    event.respondWith(networkFirst(request, url.search && url.searchParams.get("q") ? null : key));
  } else if ((sameOrigin && ASSET.test(url.pathname))
             || (!sameOrigin && (request.destination === "script" || request.destination === "style"))) {
    event.respondWith(cacheThenRefresh(event));
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
