/* Portal home: knowledge base results while you type, from the JSON API (GET /api/v1/kb/articles?q=),
 * which uses the full-text index. Without JavaScript the form opens the search page. */
(function () {
  "use strict";

  var LIMIT = 6;

  function snippet(html) {
    var text = new DOMParser().parseFromString(html || "", "text/html").body.textContent || "";
    text = text.replace(/\s+/g, " ").trim();
    return text.length > 140 ? text.slice(0, 140).replace(/\s+\S*$/, "") + "…" : text;
  }

  function setup() {
    var form = document.getElementById("home-search");
    var input = document.getElementById("home-q");
    var list = document.getElementById("home-results");
    var status = document.getElementById("home-search-status");
    if (!form || !input || !list) { return; }
    var timer = null;
    var sequence = 0;

    function show(items, total, query) {
      list.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        var link = document.createElement("a");
        link.href = "/kb/" + encodeURIComponent(item.id) + "/" + encodeURIComponent(item.slug || "");
        link.textContent = item.title;
        var text = document.createElement("span");
        text.className = "snippet";
        text.textContent = snippet(item.body_html);
        li.appendChild(link);
        li.appendChild(text);
        list.appendChild(li);
      });
      if (total > items.length) {
        var more = document.createElement("li");
        var all = document.createElement("a");
        all.href = form.action + "?q=" + encodeURIComponent(query);
        all.textContent = "All " + total + " results";
        more.appendChild(all);
        list.appendChild(more);
      }
      status.textContent = total === 0 ? "No articles match." : total + (total === 1 ? " article matches." : " articles match.");
    }

    function search() {
      var query = input.value.trim();
      var mine = ++sequence;
      if (query.length < 2) {
        list.textContent = "";
        status.textContent = "";
        return;
      }
      var url = form.getAttribute("data-api") + "?limit=" + LIMIT + "&q=" + encodeURIComponent(query);
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "omit"})
        .then(function (response) { return response.ok ? response.json() : {items: [], total: 0}; })
        .then(function (data) { if (mine === sequence) { show(data.items || [], data.total || 0, query); } })
        .catch(function () { if (mine === sequence) { status.textContent = ""; } });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(search, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        input.value = "";
        list.textContent = "";
        status.textContent = "";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
