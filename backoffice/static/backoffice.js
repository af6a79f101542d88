// Back office: a little plain JS. motcua.post() sends the session's CSRF token as X-CSRF-Token;
// forms with data-confirm ask first; selects with data-autosubmit submit their form on change.
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
})();
