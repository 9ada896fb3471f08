// The check-in page through a Wi-Fi drop (progressive enhancement: the page works without it).
//
// - Keeps the workshop's list on the phone (IndexedDB, from …/attendance.json) and registers the
//   service worker (/staff/workshops/checkin-sw.js) that keeps the page itself, its CSS and JS.
// - Search filters the cards on the phone, online and offline (each card's data-search, by the
//   server's rule: folded words, each typed word the start of one), so the whole list stays on the
//   page; the address keeps ?q= as the server search would.
// - Offline (navigator.onLine false, or a request that could not reach the server), a Check in
//   tap is kept in IndexedDB with the time it happened and an id of its own, and the card says
//   "Checked in (waiting to send)". #offline-status says that the phone is offline.
// - When the connection is back (the `online` event, on load, and every 15 s while taps wait)
//   the queue goes to …/attendance/sync with the original times; the cards and the counter are
//   then fetched again. A resent queue changes nothing on the server (each tap has its id and
//   check-in is a set), so a lost answer loses nothing; two phones' queues are independent.
// No inline script, no inline style: the app's CSP (script-src 'self'; style-src 'self').
(function () {
  "use strict";

  var match = window.location.pathname.match(/^\/staff\/workshops\/(\d+)\/attendance$/);
  var list = document.getElementById("checkin-rows");
  if (!match || !list || !window.indexedDB) { return; }

  var WORKSHOP = Number(match[1]);
  var BASE = match[0];
  var OFFLINE_TEXT = "You are offline. Check-ins are kept on this phone and sent when the connection is back.";
  var PENDING_TEXT = "Checked in (waiting to send)";
  var NEEDS_CONNECTION = "That needs the connection: try again when it is back.";
  var BATCH = 50;  // taps per request: each request stays short on a slow connection
  var state = { unreachable: false, sending: false, known: null, token: null, retry: null, sentNote: "" };

  // --- IndexedDB: "lists" (the list as data, per workshop) and "queue" (taps not sent yet) -------

  var dbPromise = null;

  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var request = window.indexedDB.open("kil-checkin", 1);
        request.onupgradeneeded = function () {
          var db = request.result;
          db.createObjectStore("lists", { keyPath: "workshop_id" });
          db.createObjectStore("queue", { keyPath: "id" }).createIndex("workshop", "workshop_id");
        };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      });
    }
    return dbPromise;
  }

  function store(name, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(name, mode);
        var result = work(tx.objectStore(name));
        tx.oncomplete = function () { resolve(result && "result" in result ? result.result : result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  function queued() {
    return store("queue", "readonly", function (s) { return s.index("workshop").getAll(WORKSHOP); })
      .then(function (items) { return (items || []).sort(function (a, b) { return a.at < b.at ? -1 : 1; }); });
  }

  function enqueue(item) { return store("queue", "readwrite", function (s) { s.put(item); }); }

  function dequeue(ids) {
    return store("queue", "readwrite", function (s) { ids.forEach(function (id) { s.delete(id); }); });
  }

  function keepList(data) {
    state.known = data;
    return store("lists", "readwrite", function (s) {
      s.put({ workshop_id: WORKSHOP, saved_at: new Date().toISOString(), data: data });
    });
  }

  function storedList() {
    return store("lists", "readonly", function (s) { return s.get(WORKSHOP); })
      .then(function (row) { return row ? row.data : null; });
  }

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  // --- What the page says --------------------------------------------------------------------

  function offline() { return !navigator.onLine || state.unreachable; }

  function say(text) {
    var status = document.getElementById("offline-status");
    if (!status) { return; }
    status.textContent = text;
    status.hidden = !text;
    status.classList.toggle("offline-status--online", !offline());  // "sent", not a warning
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function showState() {
    return queued().then(function (items) {
      var waiting = items.length ? " " + plural(items.length, "check-in is", "check-ins are") + " waiting to send." : "";
      if (offline()) {
        say(OFFLINE_TEXT + waiting);
      } else if (state.sending) {
        say("Sending " + plural(items.length, "check-in", "check-ins") + "…");
      } else {
        say(state.sentNote);
      }
      return items;
    });
  }

  function cards() { return Array.prototype.slice.call(list.querySelectorAll("[data-registration-id]")); }

  function card(id) { return list.querySelector('[data-registration-id="' + String(Number(id)) + '"]'); }

  function known(id) {
    var people = (state.known && state.known.registrations) || [];
    for (var i = 0; i < people.length; i += 1) { if (people[i].id === Number(id)) { return people[i]; } }
    return null;
  }

  function time(iso) {
    var d = new Date(iso);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  // Show a card as checked in on this phone: the tap waits to be sent (`pending`), or the copy of
  // the list says so (a page kept by the service worker can be older than the list).
  function markCard(el, text, how) {
    if (!el || el.getAttribute("data-offline-mark") === text) { return; }
    var action = el.querySelector(".checkin-card__action") || el;
    Array.prototype.forEach.call(el.querySelectorAll("form"), function (form) {
      if (!/\/undo$/.test(form.getAttribute("action") || "")) { form.hidden = true; }
    });
    var note = el.querySelector("[data-offline-note]");
    if (!note) {
      note = document.createElement("p");
      note.setAttribute("data-offline-note", "");
      action.appendChild(note);
    }
    note.className = text === PENDING_TEXT ? "checkin-card__pending" : "checkin-card__done";
    note.textContent = text;
    var howEl = el.querySelector(".checkin-card__how");
    if (howEl && how) { howEl.textContent = how; }
    el.setAttribute("data-checked-in", "1");
    el.setAttribute("data-offline-mark", text);
    el.classList.toggle("checkin-card--pending", text === PENDING_TEXT);
  }

  function markPending(items) {
    items.forEach(function (item) { markCard(card(item.registration_id), PENDING_TEXT, "Tapped at " + time(item.at)); });
  }

  function markKnown() {
    var people = (state.known && state.known.registrations) || [];
    people.forEach(function (person) {
      var el = card(person.id);
      if (person.checked_in_at && el && !el.hasAttribute("data-checked-in")) {
        markCard(el, "Checked in", "Checked in at " + time(person.checked_in_at));
      }
    });
  }

  // --- Search on the phone ---------------------------------------------------------------------

  var searchForm = document.querySelector('form[role="search"]');
  var searchBox = searchForm && searchForm.querySelector('input[name="q"]');
  var noMatch = document.createElement("p");
  noMatch.className = "checkin-nomatch";
  noMatch.hidden = true;
  list.insertAdjacentElement("afterend", noMatch);

  // The server's search (core.textsearch), so the phone and the server find the same people: what
  // is typed and each card's data-search are folded (case and accents do not count; ø, æ, ł, ß ...
  // spelt plainly; an apostrophe joins a word, and its parts count too), and every word typed must
  // start a word of the card ("smi" finds Smith, "jose" finds José).
  var PLAIN = { "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h",
                "ŧ": "t", "ŀ": "l", "ĸ": "k", "ß": "ss" };
  var APOSTROPHES = /['\u2019\u02bc\u2018`\u00b4]/g;

  function foldWords(text, apostrophe) {
    return String(text || "").toLowerCase().normalize("NFKD").replace(/\p{M}/gu, "")
      .replace(/[øæœłđðþıħŧŀĸß]/g, function (c) { return PLAIN[c]; })
      .replace(APOSTROPHES, apostrophe).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  }

  var cardWords = new WeakMap();  // a card's folded words, worked out once per card shown

  function wordsOf(el) {
    var have = cardWords.get(el);
    if (!have) {
      var text = el.getAttribute("data-search") || "";
      have = foldWords(text, "").concat(foldWords(text, " "));
      cardWords.set(el, have);
    }
    return have;
  }

  function filter() {
    var words = searchBox ? foldWords(searchBox.value, " ") : [];
    var q = searchBox ? searchBox.value.trim() : "";
    var shown = 0;
    var all = cards();
    all.forEach(function (el) {
      var have = words.length ? wordsOf(el) : [];
      var hit = words.every(function (w) { return have.some(function (word) { return word.indexOf(w) === 0; }); });
      el.hidden = !hit;
      if (hit) { shown += 1; }
    });
    noMatch.textContent = q ? "Nobody matches “" + searchBox.value.trim() + "”." : "";
    noMatch.hidden = !(all.length && !shown);
  }

  function searched() {
    filter();
    var url = new URL(window.location.href);
    var q = searchBox.value.trim();
    if (q) { url.searchParams.set("q", q); } else { url.searchParams.delete("q"); }
    window.history.replaceState(window.history.state, "", url.pathname + url.search);
  }

  if (searchBox) {
    searchBox.addEventListener("input", searched);
    searchBox.addEventListener("search", searched);
  }

  // --- Taps: sent at once online, kept on the phone offline --------------------------------------

  function isCheckIn(form) {
    return form && form.tagName === "FORM" && /\/attendance\/\d+$/.test(form.getAttribute("action") || "")
      && form.closest("[data-registration-id]");
  }

  function keepTap(form, at) {
    var el = form.closest("[data-registration-id]");
    var id = Number(el.getAttribute("data-registration-id"));
    return queued().then(function (items) {
      var already = items.some(function (item) { return item.registration_id === id; });
      var item = { id: uuid(), workshop_id: WORKSHOP, registration_id: id, at: at || new Date().toISOString() };
      return (already ? Promise.resolve() : enqueue(item)).then(function () {
        markCard(el, PENDING_TEXT, "Tapped at " + time(item.at));
        if (!already) { countTap(id); }
        return showState();
      });
    }).then(scheduleRetry);
  }

  // The counter on this phone counts a tap at once (the server's figure replaces it when sent).
  function countTap(id) {
    var person = known(id);
    var attended = document.querySelector("#attendance-count [data-attended]");
    var registered = document.querySelector("#attendance-count [data-registered]");
    if (attended) { attended.textContent = String(Number(attended.textContent) + 1); }
    if (registered && person && person.state === "waitlisted") {
      registered.textContent = String(Number(registered.textContent) + 1);
    }
  }

  var tapTimes = new WeakMap();

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (searchForm && (elt === searchForm || elt === searchBox)) {
      event.preventDefault();  // the phone filters the whole list itself
      searched();
      return;
    }
    var form = elt && elt.closest ? elt.closest("form") : null;
    if (isCheckIn(form)) {
      tapTimes.set(form, new Date().toISOString());
      // Wi-Fi that takes the request and never answers: after 8 s the tap is kept (htmx:timeout);
      // if it did arrive, sending it again later changes nothing.
      if (event.detail.xhr && !offline()) { event.detail.xhr.timeout = 8000; }
    }
    if (!offline()) { return; }
    event.preventDefault();  // offline: no request (the counter's poll waits too)
    if (isCheckIn(form)) {
      keepTap(form, tapTimes.get(form));
    } else if (form && (event.detail.requestConfig || {}).verb !== "get") {
      say(OFFLINE_TEXT + " " + NEEDS_CONNECTION);  // an undo, say
    }
  });

  // Online as far as the phone knows, but the request did not reach the server (or no answer
  // came): offline after all.
  function unreachable(event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    state.unreachable = true;
    if (isCheckIn(form)) {
      keepTap(form, tapTimes.get(form));
    } else {
      showState().then(scheduleRetry);
    }
  }
  document.addEventListener("htmx:sendError", unreachable);
  document.addEventListener("htmx:timeout", unreachable);

  // Forms htmx does not send (all of them if htmx did not load): a Check in tap offline is kept;
  // another post offline (a walk-in) is held back with a word, so what was typed stays; signing
  // out first deletes the phone's copies of the list and the page (the taps not sent stay queued).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var action = form.getAttribute("action") || "";
    if (/\/auth\/logout$/.test(action)) { forget(event, form); return; }
    var byHtmx = window.htmx && ["data-hx-post", "hx-post", "data-hx-get", "hx-get"].some(function (name) {
      return form.hasAttribute(name);
    });
    if (byHtmx) { return; }
    if (form === searchForm) { event.preventDefault(); searched(); return; }
    if (!offline()) { return; }
    if (isCheckIn(form)) {
      event.preventDefault();
      keepTap(form, new Date().toISOString());
    } else if ((form.getAttribute("method") || "").toLowerCase() === "post") {
      event.preventDefault();
      say(OFFLINE_TEXT + " " + NEEDS_CONNECTION);
    }
  }, true);

  function forget(event, form) {
    if (form.hasAttribute("data-offline-forgotten")) { return; }
    event.preventDefault();
    form.setAttribute("data-offline-forgotten", "");
    var wiped = Promise.all([
      store("lists", "readwrite", function (s) { s.clear(); }),
      window.caches ? window.caches.delete("kil-checkin-v1") : null
    ]).catch(function () { return null; });
    var patience = new Promise(function (resolve) { window.setTimeout(resolve, 1500); });
    Promise.race([wiped, patience]).then(function () { HTMLFormElement.prototype.submit.call(form); });
  }

  // --- Sending the queue ---------------------------------------------------------------------

  function fetchList(sending) {
    return fetch(BASE + ".json", { credentials: "same-origin", cache: "no-store",
                                   headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("signed-out:" + response.status); }
        return response.json();
      }).then(function (data) {
        state.unreachable = false;
        state.token = data.csrf_token;
        return keepList(data).then(function () {
          markKnown();  // the page may be the service worker's copy, older than the list
          // ... with people added or undone since: fetch the cards (after sending, if about to send)
          if (!sending && differs(data)) { refreshCards(); }
          return data;
        });
      });
  }

  // Do the cards on the page (taps waiting aside) say what the list says: the same people, the
  // same ones checked in?
  function differs(data) {
    var people = data.registrations || [];
    var shown = cards();
    if (shown.length !== people.length) { return true; }
    return people.some(function (person) {
      var el = card(person.id);
      if (!el) { return true; }
      if (el.getAttribute("data-offline-mark") === PENDING_TEXT) { return false; }
      return el.hasAttribute("data-checked-in") !== Boolean(person.checked_in_at);
    });
  }

  function post(items, retried) {
    return fetch(BASE + "/sync", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": state.token || "" },
      body: JSON.stringify({ check_ins: items.map(function (item) {
        return { registration_id: item.registration_id, at: item.at, id: item.id };
      }) })
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("json") !== -1;
      if (response.status === 400 && !json && !retried) {  // the token had expired: a fresh one, once
        return fetchList().then(function () { return post(items, true); });
      }
      if (!response.ok || !json) { throw new Error("sync:" + response.status); }
      return response.json();
    });
  }

  // One fetch of the cards at a time (two swaps of the same list at once could lose the later one).
  var refreshing = Promise.resolve();

  function refreshCards() {
    if (!window.htmx) { return Promise.resolve(); }
    refreshing = refreshing.catch(function () { return null; }).then(function () {
      return window.htmx.ajax("GET", BASE, { target: "#checkin-rows", swap: "outerHTML" });
    }).then(function () { window.htmx.trigger(document.body, "attendance-changed"); });
    return refreshing;
  }

  function flush() {
    if (state.sending || !navigator.onLine) { return showState(); }
    state.sending = true;
    var refused = [];
    var sent = 0;
    return queued().then(function (all) {
      // A tap the phone kept in a shape the server would refuse whole is dropped, not resent forever.
      var items = all.filter(function (item) {
        return Number.isInteger(item.registration_id) && typeof item.at === "string" && typeof item.id === "string";
      });
      var broken = all.filter(function (item) { return items.indexOf(item) === -1; });
      return dequeue(broken.map(function (item) { return item.id; })).then(showState).then(function () {
        return fetchList(items.length > 0);
      }).then(function () {
        var batches = [];
        for (var i = 0; i < items.length; i += BATCH) { batches.push(items.slice(i, i + BATCH)); }
        return batches.reduce(function (chain, batch) {
          return chain.then(function () { return post(batch); }).then(function (answer) {
            var names = {};
            batch.forEach(function (item) { names[item.id] = item; });
            answer.results.forEach(function (result) {
              if (result.result === "refused") {
                var person = known(result.registration_id);
                refused.push((person ? person.name : "#" + result.registration_id) + " (" + result.reason + ")");
              } else {
                sent += 1;
              }
            });
            return dequeue(answer.results.map(function (r) { return r.id; }).filter(function (id) { return names[id]; }));
          });
        }, Promise.resolve()).then(function () { return items.length; });
      });
    }).then(function (count) {
      state.sending = false;
      state.sentNote = count ? plural(sent, "check-in", "check-ins") + " sent." +
        (refused.length ? " Not checked in: " + refused.join("; ") + "." : "") : "";
      var note = state.sentNote;
      if (note && !refused.length) {  // "sent" goes after a while; what was refused stays to be read
        window.setTimeout(function () {
          if (state.sentNote === note) { state.sentNote = ""; showState(); }
        }, 10000);
      }
      if (count) { return refreshCards().then(fetchList); }
      return null;
    }).catch(function (error) {
      state.sending = false;
      var text = String(error);
      if (/signed-out:(200|401|403)/.test(text)) {  // sent to the sign-in page: the session ended
        state.sentNote = "Sign in again to send the check-ins kept on this phone.";
      } else if (/sync:4\d\d/.test(text)) {
        state.sentNote = "The check-ins kept on this phone could not be sent: reload the page to try again.";
      } else {
        state.unreachable = true;  // the server could not be reached (or failed): try again soon
        markKnown();
      }
    }).then(function () {
      return showState();
    }).then(scheduleRetry);
  }

  // While taps wait, or the server could not be reached, and the phone is (or seems) online: try
  // again every 15 seconds (there is no `online` event when the Wi-Fi stays up but goes nowhere).
  function scheduleRetry(items) {
    window.clearTimeout(state.retry);
    if (navigator.onLine && (state.unreachable || (items && items.length))) {
      state.retry = window.setTimeout(function () { state.unreachable = false; flush(); }, 15000);
    }
  }

  window.addEventListener("online", function () { state.unreachable = false; flush(); });
  window.addEventListener("offline", function () { showState(); });

  // After htmx swaps cards in (a check-in, the list fetched again): filter again, and mark the
  // taps still waiting. After a check-in online, keep the phone's copy of the list current.
  var listTimer = null;
  document.addEventListener("htmx:afterSettle", function (event) {
    list = document.getElementById("checkin-rows") || list;
    if (list && !noMatch.isConnected) { list.insertAdjacentElement("afterend", noMatch); }
    filter();
    queued().then(markPending);
    var elt = event.detail.elt;
    var form = elt && elt.closest ? elt.closest("[data-registration-id]") : null;
    if (!form && elt && elt.id === "attendance-count" && !offline()) {
      // The counter (polled every 3 s) says another phone checked someone in or added a walk-in:
      // fetch the list, and the cards when they differ from it.
      var counts = (state.known && state.known.counts) || {};
      var read = function (name) {
        var el = elt.querySelector("[data-" + name + "]");
        return el ? Number(el.textContent) : null;
      };
      if (read("attended") !== counts.attended || read("registered") !== counts.registered) { form = elt; }
    }
    if (form && !offline()) {
      window.clearTimeout(listTimer);
      listTimer = window.setTimeout(function () { fetchList().catch(function () { return null; }); },
                                    form === elt && elt.id === "attendance-count" ? 0 : 2000);
    }
  });

  // --- The service worker: the page opens again with the network cut ----------------------------

  function registerWorker() {
    if (!("serviceWorker" in navigator)) { return; }
    navigator.serviceWorker.register("/staff/workshops/checkin-sw.js").then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      var urls = [];
      var crossOrigin = [];
      document.querySelectorAll('script[src], link[rel="stylesheet"][href]').forEach(function (el) {
        var url = new URL(el.getAttribute("src") || el.getAttribute("href"), window.location.href);
        urls.push(url.href);
        if (url.origin !== window.location.origin) { crossOrigin.push(url.href); }
      });
      if (!new URL(window.location.href).searchParams.get("q")) { urls.push(window.location.origin + BASE); }
      if (registration.active) { registration.active.postMessage({ type: "keep", urls: urls, crossOrigin: crossOrigin }); }
    }).catch(function () { return null; });
  }

  // --- On load -----------------------------------------------------------------------------------

  function start() {
    registerWorker();
    storedList().then(function (data) {
      state.known = data;
      if (offline()) { markKnown(); }
      return queued();
    }).then(function (items) {
      markPending(items);
      var q = new URL(window.location.href).searchParams.get("q");
      // A page searched on the server holds some people only: fetch them all, then filter here.
      return (q && navigator.onLine ? refreshCards() : Promise.resolve()).then(function () {
        filter();
        return flush();
      });
    }).catch(function () { filter(); showState(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
