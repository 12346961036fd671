/* Agent workspace (conversation view): canned responses, inline status/department/assignee changes and
 * keyboard shortcuts. Everything also works without this file (plain forms and links). */
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function insertAtCursor(area, text) {
    var start = area.selectionStart || 0;
    var end = area.selectionEnd || 0;
    var before = area.value.slice(0, start);
    var after = area.value.slice(end);
    var gap = before && !/\n$/.test(before) ? "\n" : "";
    area.value = before + gap + text + after;
    var caret = (before + gap + text).length;
    area.setSelectionRange(caret, caret);
    area.focus();
    area.dispatchEvent(new Event("input", {bubbles: true}));
  }

  function setupCanned() {
    var select = document.getElementById("canned");
    var button = document.getElementById("insert-canned");
    var body = document.getElementById("body");
    if (!select || !button || !body) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var option = select.options[select.selectedIndex];
      if (option) { insertAtCursor(body, option.getAttribute("data-body") || ""); }
    });
  }

  function setupInlineChanges() {
    var form = document.querySelector("form[data-inline]");
    if (!form) { return; }
    var result = document.getElementById("change-result");
    var badge = document.getElementById("status");
    var statusSelect = document.getElementById("status-select");
    form.addEventListener("change", function (event) {
      if (event.target.tagName !== "SELECT") { return; }
      result.textContent = "Saving…";
      fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin",
                          headers: {"X-Plugdesk-Inline": "1", "Accept": "application/json"}})
        .then(function (response) {
          return response.json().then(function (data) { return {ok: response.ok, data: data}; });
        })
        .then(function (answer) {
          result.textContent = answer.data.message;
          if (answer.ok && badge && statusSelect) { badge.textContent = statusSelect.value; }
        })
        .catch(function () { form.submit(); });
    });
  }

  function setupShortcuts() {
    var body = document.getElementById("body");
    var reply = document.getElementById("agent-reply");
    document.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target === body && reply) {
        event.preventDefault();
        if (reply.requestSubmit) { reply.requestSubmit(); } else { reply.submit(); }
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      var link = null;
      if (event.key === "r" && body) {
        event.preventDefault();
        body.focus();
        body.scrollIntoView({block: "center"});
      } else if (event.key === "n") {
        link = document.getElementById("next-ticket");
      } else if (event.key === "q") {
        link = document.getElementById("back-to-queue");
      }
      if (link) {
        event.preventDefault();
        window.location.assign(link.href);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupCanned();
    setupInlineChanges();
    setupShortcuts();
  });
})();
