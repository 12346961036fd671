/* KB editor: live preview rendered by the server (markdown-it-py + the nh3 sanitizer), so what you see is
 * exactly what readers get; the cursor position goes with "Upload and insert images". */
(function () {
  "use strict";

  function setup() {
    var form = document.getElementById("kb-editor");
    if (!form) { return; }
    var body = document.getElementById("body");
    var format = document.getElementById("format");
    var preview = document.getElementById("live-preview");
    var status = document.getElementById("preview-status");
    var cursor = document.getElementById("cursor");
    var token = form.querySelector("input[name=csrf_token]");
    var timer = null;
    var sequence = 0;

    function render() {
      var mine = ++sequence;
      var data = new FormData();
      data.append("csrf_token", token ? token.value : "");
      data.append("body", body.value);
      data.append("format", format.value);
      fetch(form.getAttribute("data-preview-url"), {method: "POST", body: data, credentials: "same-origin",
                                                    headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (result) {
          if (mine !== sequence) { return; }
          preview.innerHTML = result.html;  // sanitized by the server's allow-list
          status.textContent = "";
        })
        .catch(function () {
          if (mine === sequence) { status.textContent = "The preview is not available right now; saving still works."; }
        });
    }

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(render, 300);
    }

    body.addEventListener("input", schedule);
    format.addEventListener("change", render);
    form.addEventListener("submit", function () {
      if (cursor) { cursor.value = String(body.selectionStart || body.value.length); }
    });
    render();
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
