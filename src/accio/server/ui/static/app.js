/* Accio UI glue: plots (vega-embed), the edit dialog, copy buttons. No build step. */
(function () {
  "use strict";

  function embedCharts(root) {
    if (!window.vegaEmbed || !root || !root.querySelectorAll) return;
    root.querySelectorAll(".vega[data-spec]").forEach(function (el) {
      if (el.dataset.embedded) return;
      el.dataset.embedded = "1";
      var spec = JSON.parse(el.dataset.spec);
      window.vegaEmbed(el, spec, {
        renderer: "svg",
        actions: { export: true, source: false, compiled: false, editor: false },
        downloadFileName: el.dataset.name || "accio-plot",
      }).catch(function (err) {
        el.textContent = "The plot failed: " + err;
      });
    });
  }

  function flash(button, text) {
    var before = button.textContent;
    button.textContent = text;
    setTimeout(function () { button.textContent = before; }, 1200);
  }

  function copyText(text, button) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { flash(button, "Copied"); },
        function () { flash(button, "Copy failed"); }
      );
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    flash(button, ok ? "Copied" : "Copy failed");
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var copy = target.closest("[data-copy]");
    if (copy) { copyText(copy.getAttribute("data-copy"), copy); return; }
    var open = target.closest("[data-open]");
    if (open) {
      var dialog = document.getElementById(open.getAttribute("data-open"));
      if (dialog && dialog.showModal) dialog.showModal();
      return;
    }
    var close = target.closest("[data-close]");
    if (close) { var d = close.closest("dialog"); if (d) d.close(); }
  });

  document.addEventListener("htmx:load", function (event) { embedCharts(event.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () { embedCharts(document); });
})();

// With authentication on, every htmx request carries the session's CSRF token (the server
// refuses a state-changing request without it).
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const token = meta ? meta.content : "";
  if (!token) return;
  document.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-CSRF-Token"] = token;
  });
})();
