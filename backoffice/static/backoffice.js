// Back office: a little plain JS, all of it in this file (the pages' Content-Security-Policy allows no
// inline script). motcua.post() sends the session's CSRF token as X-CSRF-Token; forms with data-confirm
// ask first; selects with data-autosubmit submit their form on change; elements with data-poll refresh
// themselves every data-poll-ms milliseconds (handoff queue and transcript, catalogue job progress).
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  function post(url, data) {
    var body = data instanceof FormData ? data : new URLSearchParams(data || {});
    return fetch(url, { method: "POST", body: body, credentials: "same-origin",
                        headers: { "X-CSRF-Token": csrfToken(), "Accept": "application/json, text/html" } });
  }
  window.motcua = { csrfToken: csrfToken, post: post };
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute("data-autosubmit") && event.target.form) { event.target.form.submit(); }
  });

  // Polling: every data-poll-ms, GET data-poll and give the response to the element's handler.
  // A failed fetch (offline for a moment) is ignored: the next tick tries again.
  function poll(box, accept, handle) {
    var every = parseInt(box.getAttribute("data-poll-ms"), 10) || 5000;
    window.setInterval(function () {
      fetch(box.getAttribute("data-poll"), { credentials: "same-origin", headers: { "Accept": accept }, cache: "no-store" })
        .then(handle)
        .catch(function () {});
    }, every);
  }
  function replaceWhenChanged(box) {  // swap in new HTML only when it differs (keeps scroll and focus)
    var last = box.innerHTML;
    return function (html, before) {
      if (typeof html !== "string" || html === last) { return; }
      if (before) { before(); }
      box.innerHTML = html; last = html;
    };
  }

  function waitingQueue(box) {  // the inbox's queue, its count badge and the tab title
    var badge = document.getElementById("waiting-count");
    var title = document.title;
    var replace = replaceWhenChanged(box);
    poll(box, "text/html", function (response) {
      if (response.redirected || response.status === 401) { window.location.reload(); return null; }
      if (!response.ok) { return null; }
      var count = response.headers.get("X-Waiting-Count");
      if (count !== null && badge) {
        badge.textContent = count;
        document.title = (count !== "0" ? "(" + count + ") " : "") + title;
      }
      return response.text().then(function (html) { replace(html); });
    });
  }

  function transcript(box) {  // an open conversation: new messages, kept scrolled to the bottom
    var replace = replaceWhenChanged(box);
    box.scrollTop = box.scrollHeight;
    poll(box, "text/html", function (response) {
      if (response.redirected || !response.ok) { return null; }
      return response.text().then(function (html) {
        var atBottom = false;
        replace(html, function () { atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40; });
        if (atBottom) { box.scrollTop = box.scrollHeight; }
      });
    });
  }

  function catalogueJob(box) {  // a running import or reindex: progress, then the finished page
    poll(box, "application/json", function (response) {
      if (!response.ok) { return null; }
      return response.json().then(function (job) {
        if (!job.running) { window.location.reload(); return; }
        document.getElementById("job-state").textContent = job.state_label;
        var processed = document.getElementById("job-processed");
        if (processed) { processed.textContent = job.processed; }
        var bar = document.getElementById("job-progress");
        if (job.percent !== null) { bar.value = job.percent; }
      });
    });
  }

  var watchers = { "waiting-queue": waitingQueue, "transcript": transcript, "catalogue-job": catalogueJob };
  function start() {
    document.querySelectorAll("[data-poll][data-watch]").forEach(function (box) {
      var watch = watchers[box.getAttribute("data-watch")];
      if (watch) { watch(box); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
