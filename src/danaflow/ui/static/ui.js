/* danaflow ui: live updates over server-sent events, CSRF header for htmx, copy buttons.
   No inline scripts anywhere (the Content-Security-Policy allows only files from /static). */
(function () {
  "use strict";
  var body = document.body;

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
  });

  // Every change the server announces re-fetches the live regions of the page (hx-trigger
  // "sse-update from:body"); "ready" also refreshes, to catch what changed before we connected.
  var url = body.getAttribute("data-events");
  if (url && window.EventSource) {
    var source = null;
    var connect = function () {
      source = new EventSource(url);
      source.addEventListener("ready", function () {
        body.setAttribute("data-live", "on");
        htmx.trigger(body, "sse-update", {});
      });
      source.addEventListener("update", function (e) {
        var detail = {};
        try { detail = JSON.parse(e.data); } catch (err) { detail = {}; }
        body.setAttribute("data-last-event", String(Date.now()));
        htmx.trigger(body, "sse-update", detail);
      });
      source.onerror = function () { body.setAttribute("data-live", "off"); };
    };
    connect();
    window.addEventListener("pagehide", function () { if (source) { source.close(); } });
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var text = button.getAttribute("data-copy");
    var done = function () { button.textContent = "copied"; setTimeout(function () { button.textContent = "copy"; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      try { document.execCommand("copy"); done(); } catch (err) { /* the id is selectable text too */ }
      document.body.removeChild(area);
    }
  });
})();
