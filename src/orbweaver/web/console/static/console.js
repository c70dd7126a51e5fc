// Keyboard shortcuts of the item page: r reveal, b blur again, 1-4 choose a category and Enter
// to record it (Esc cancels), s/l/0 severity, n defer this item and go to the next.
// Off when the user turned them off (WCAG 2.1.4); never while typing in a text field.
(function () {
  var pending = null;

  function say(text) {
    var box = document.getElementById("pending");
    if (box) box.textContent = text;
  }

  function cancel() {
    if (pending) pending.classList.remove("chosen");
    pending = null;
    say("");
  }

  function choose(button) {
    cancel();
    pending = button;
    button.classList.add("chosen");
    say("Record \u201c" + button.textContent.replace(/^\d+ \u00b7 /, "") +
        "\u201d? Press Enter to record it, Esc to cancel.");
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable) return true;
    if (tag !== "INPUT") return false;
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["radio", "checkbox", "button", "submit", "reset"].indexOf(type) < 0;
  }

  function next() {
    var defer = document.getElementById("defer");
    if (defer) { defer.requestSubmit(); return; }
    var here = window.location.pathname.match(/^\/console\/items\/(\d+)/);
    var adjudicating = document.querySelector('#decide[action$="/adjudicate"]') ||
      window.location.pathname === "/console/adjudication";
    if (adjudicating) {
      window.location.href = "/console/adjudication/next" + (here ? "?after=" + here[1] : "");
    } else {
      window.location.href = "/console/next";
    }
  }

  document.addEventListener("keydown", function (event) {
    if (document.body.dataset.shortcuts !== "on") return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    var key = event.key;
    if (key === "Escape") { cancel(); return; }
    if (key === "Enter") {
      // Enter on a focused radio would submit the form with its first button: never.
      if (pending) { event.preventDefault(); var b = pending; cancel(); b.click(); }
      else if (event.target && event.target.type === "radio") event.preventDefault();
      return;
    }
    if (key === "r") { var r = document.getElementById("reveal"); if (r) r.click(); return; }
    if (key === "b") { var s = document.getElementById("reblur"); if (s) s.click(); return; }
    if (key === "n") { next(); return; }
    var severities = { s: "sex_act", l: "lascivious_exhibition", "0": "" };
    if (key in severities) {
      var radio = document.querySelector('input[name="severity"][value="' + severities[key] + '"]');
      if (radio) radio.checked = true;
      return;
    }
    var button = document.querySelector('#decide button[data-key="' + key + '"]');
    if (button) { event.preventDefault(); choose(button); }
  });

  // A refusal answered to an HTMX request (a reveal past the cap) is shown, not dropped.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // The exposure heartbeat is charged only while the page is visible: a hidden tab (another
  // tab, a minimised window, a locked screen) is not time spent looking at images. The check
  // lives here, not in an hx-trigger filter ("every 15s [document.visibilityState ...]"):
  // htmx evaluates such a filter with eval, which the console forbids (allowEval false, CSP
  // without 'unsafe-eval'), and a filter it may not evaluate is always true.
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.target;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-visible-only") &&
        document.visibilityState !== "visible") {
      event.preventDefault();
    }
  });

  // Sortable tables (class "sortable"): each column header becomes a button; the sorted
  // column carries aria-sort. Numeric columns (th class "n") sort by the first number in a
  // cell ("> 6.0" just above 6, "<1%" below 1, "–" and words last); others by text.
  function sortKey(text, numeric) {
    var t = text.replace(/\u2020/g, "").replace(/,/g, "").trim();
    if (!numeric) return t.toLowerCase();
    var m = t.match(/-?\d+(?:\.\d+)?/);
    if (!m) return null;
    var v = parseFloat(m[0]);
    if (/^>/.test(t)) v += 1e-6;
    if (/^</.test(t)) v -= 1e-6;
    return v;
  }

  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    if (!body) return;
    var numeric = th.classList.contains("n");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.filter.call(body.rows, function (r) { return r.cells.length > index; });
    var keyed = rows.map(function (r, i) {
      return {row: r, at: i, key: sortKey(r.cells[index].textContent, numeric)};
    });
    keyed.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        return a.key === b.key ? a.at - b.at : (a.key === null ? 1 : -1);
      }
      var c = numeric ? a.key - b.key : a.key.localeCompare(b.key);
      return (ascending ? c : -c) || a.at - b.at;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute("aria-sort");
      var mark = cell.querySelector(".sort-mark");
      if (mark) mark.textContent = "";
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    th.querySelector(".sort-mark").textContent = ascending ? " \u25b2" : " \u25bc";
  }

  function sortable(table) {
    if (!table.tHead || !table.tHead.rows.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      if (th.querySelector("button")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      var mark = document.createElement("span");
      mark.className = "sort-mark";
      mark.setAttribute("aria-hidden", "true");
      button.appendChild(mark);
      button.addEventListener("click", function () { sortBy(table, index, th); });
      th.textContent = "";
      th.appendChild(button);
    });
  }

  function sortables() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", sortables);
  else sortables();

  // "I'll take a break" and other dismissable notes.
  document.addEventListener("click", function (event) {
    var name = event.target && event.target.getAttribute && event.target.getAttribute("data-dismiss");
    if (!name) return;
    var box = document.getElementById(name);
    if (box) { box.innerHTML = ""; box.className = ""; }
  });
})();
