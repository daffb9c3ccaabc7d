/* Chat page and widget behaviour on top of htmx. No inline scripts anywhere (CSP-friendly);
 * everything degrades to plain form posts without JavaScript.
 *  - Enter sends, Shift+Enter adds a line (textareas marked data-enter-sends).
 *  - After sending: the composer is cleared and refocused; the typing indicator opens an
 *    EventSource on its data-stream-url and shows the answer's tokens as they arrive, then
 *    swaps in the server-rendered (sanitized) messages.
 *  - Errors: the server's error partial is swapped into #chat-errors; a network failure or an
 *    unexpected server error shows a client-side error partial with a "Try again" button.
 */
(function () {
  "use strict";

  var retryAction = null;

  function errorArea() { return document.getElementById("chat-errors"); }

  function scrollLog() {
    var log = document.getElementById("chat-log");
    if (log) { log.scrollTop = log.scrollHeight; }
  }

  function clearErrors() {
    var area = errorArea();
    if (area) { area.innerHTML = ""; }
    retryAction = null;
  }

  function showTemplateError(templateId, retry) {
    var area = errorArea();
    var template = document.getElementById(templateId);
    if (!area || !template) { return; }
    area.innerHTML = "";
    area.appendChild(template.content.cloneNode(true));
    retryAction = retry;
  }

  function showHtmlError(html, retry) {
    var area = errorArea();
    if (!area) { return; }
    area.innerHTML = html;
    retryAction = retry;
  }

  function composerText() { return document.getElementById("composer-text"); }

  function resend(text) {
    var box = composerText();
    if (!box || !box.form) { return; }
    box.value = text;
    box.form.requestSubmit();
  }

  function isSendForm(elt) {
    return elt && elt.tagName === "FORM" && (elt.id === "composer" || elt.classList.contains("quick-reply"));
  }

  // --- keyboard: Enter sends, Shift+Enter is a new line ------------------------------------
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.matches || !target.matches("textarea[data-enter-sends]")) { return; }
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) { return; }
    event.preventDefault();
    if (target.value.trim() && target.form) { target.form.requestSubmit(); }
  });

  // --- retry buttons inside error partials --------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-retry]") : null;
    if (button) {
      var action = retryAction;
      clearErrors();
      if (action) { action(); }
      return;
    }
    var close = event.target.closest ? event.target.closest("[data-widget-close]") : null;
    if (close) { toggleWidget(false); }
  });

  // --- htmx lifecycle -------------------------------------------------------------------------
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.classList && elt.classList.contains("chat-widget-toggle")) {
      var panel = document.getElementById("chat-widget-panel");
      if (panel && !panel.hidden) { event.preventDefault(); toggleWidget(false); return; }
    }
    if (isSendForm(elt)) {
      clearErrors();
      var empty = document.querySelector("#chat-log .chat-empty");
      if (empty) { empty.remove(); }
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    // Error partials are swapped in as "successful" (see htmx:beforeSwap): keep the text then.
    var ok = event.detail.successful && event.detail.xhr && event.detail.xhr.status < 400;
    if (ok && elt && elt.id === "composer") {
      var box = composerText();
      if (box) { box.value = ""; box.focus(); }
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status < 400) { return; }
    var elt = event.detail.requestConfig ? event.detail.requestConfig.elt : null;
    if (xhr.getResponseHeader("HX-Retarget")) {
      // Our own error partial (validation, rate limit, not found): show it.
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      retryAction = null;
      return;
    }
    event.detail.shouldSwap = false;
    showTemplateError("chat-server-error", elt && elt.requestSubmit ? function () { elt.requestSubmit(); } : null);
  });

  document.addEventListener("htmx:sendError", function (event) {
    var elt = event.detail.elt;
    showTemplateError("chat-network-error", elt && elt.requestSubmit ? function () { elt.requestSubmit(); } : null);
  });
  document.addEventListener("htmx:timeout", function (event) {
    var elt = event.detail.elt;
    showTemplateError("chat-network-error", elt && elt.requestSubmit ? function () { elt.requestSubmit(); } : null);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "chat-widget-panel") {
      toggleWidget(true);
    }
    scrollLog();
  });

  // --- streaming ------------------------------------------------------------------------------
  function startStream(pending) {
    var url = pending.getAttribute("data-stream-url");
    pending.removeAttribute("data-stream-url");
    var text = pending.getAttribute("data-text") || "";
    var output = pending.querySelector(".streaming-text");
    var finished = false;
    var source = new EventSource(url);

    function fail(html) {
      finished = true;
      source.close();
      var userBubble = pending.previousElementSibling;
      var retry = function () {
        if (userBubble && userBubble.classList.contains("msg-provisional")) { userBubble.remove(); }
        pending.remove();
        resend(text);
      };
      pending.classList.add("msg-failed");
      pending.setAttribute("aria-busy", "false");
      if (html) { showHtmlError(html, retry); } else { showTemplateError("chat-network-error", retry); }
    }

    source.addEventListener("token", function (event) {
      pending.classList.add("streaming");
      if (output) { output.textContent += JSON.parse(event.data); }
      scrollLog();
    });
    source.addEventListener("done", function (event) {
      finished = true;
      source.close();
      var holder = document.createElement("ol");
      holder.innerHTML = event.data;
      // Parts of the page the turn changed (the heading, the quick replies) come marked with
      // data-replaces="<element id>": they replace that element instead of joining the log.
      Array.prototype.slice.call(holder.querySelectorAll("[data-replaces]")).forEach(function (wrapper) {
        var current = document.getElementById(wrapper.getAttribute("data-replaces"));
        var fresh = wrapper.firstElementChild;
        wrapper.remove();
        // The widget's chips carry its own hidden fields; it gets fresh ones when reopened.
        if (current && fresh && !current.closest("#chat-widget-panel")) {
          current.replaceWith(fresh);
          if (window.htmx) { window.htmx.process(fresh); }
        }
      });
      var nodes = Array.prototype.slice.call(holder.children);
      pending.replaceWith.apply(pending, nodes);
      nodes.forEach(function (node) { if (window.htmx) { window.htmx.process(node); } });
      scrollLog();
    });
    source.addEventListener("failure", function (event) { fail(event.data); });
    source.onerror = function () { if (!finished) { fail(null); } };
  }

  function findStreams(root) {
    if (!root || !root.querySelectorAll) { return; }
    if (root.matches && root.matches("[data-stream-url]")) { startStream(root); }
    Array.prototype.forEach.call(root.querySelectorAll("[data-stream-url]"), startStream);
  }

  document.addEventListener("htmx:load", function (event) { findStreams(event.detail.elt); });

  // --- floating widget ------------------------------------------------------------------------
  function toggleWidget(open) {
    var panel = document.getElementById("chat-widget-panel");
    var toggle = document.querySelector(".chat-widget-toggle");
    if (!panel || !toggle) { return; }
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      var box = composerText();
      if (box) { box.focus(); }
      scrollLog();
    } else {
      toggle.focus();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var panel = document.getElementById("chat-widget-panel");
    if (panel && !panel.hidden) { toggleWidget(false); }
  });

  // The open conversation stays in view in a long sidebar list (it scrolls on its own).
  function showCurrentConversation() {
    var current = document.querySelector(".conversation-list a[aria-current='page']");
    var list = current ? current.closest(".conversation-list") : null;
    if (!current || !list) { return; }
    var item = current.getBoundingClientRect();
    var box = list.getBoundingClientRect();
    if (item.top < box.top || item.bottom > box.bottom) {
      list.scrollTop += (item.top - box.top) - (box.height - item.height) / 2;
    }
  }

  document.addEventListener("DOMContentLoaded", function () { scrollLog(); showCurrentConversation(); });
})();
