// Keyboard shortcuts of the item page: r reveal, 1-4 decide, s/l/0 severity, n next item.
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  var tag = (event.target && event.target.tagName) || "";
  if (tag === "INPUT" || tag === "TEXTAREA") return;
  var key = event.key;
  if (key === "r") { var b = document.getElementById("reveal"); if (b) b.click(); return; }
  if (key === "n") { window.location.href = "/console/next"; return; }
  var severities = { s: "sex_act", l: "lascivious_exhibition", "0": "" };
  if (key in severities) {
    var radio = document.querySelector('input[name="severity"][value="' + severities[key] + '"]');
    if (radio) radio.checked = true;
    return;
  }
  var button = document.querySelector('#decide button[data-key="' + key + '"]');
  if (button) button.click();
});
