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

  // "I'll take a break" and other dismissable notes.
  document.addEventListener("click", function (event) {
    var name = event.target && event.target.getAttribute && event.target.getAttribute("data-dismiss");
    if (!name) return;
    var box = document.getElementById(name);
    if (box) { box.innerHTML = ""; box.className = ""; }
  });
})();
