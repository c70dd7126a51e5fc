// The public report form's proof of work (orbweaver.web.pow): find a counter such that
// sha256(challenge + ":" + counter) starts with `bits` zero bits, then enable the button.
(function () {
  "use strict";
  const form = document.getElementById("report");
  if (!form) return;
  const challenge = form.elements.challenge.value;
  const bits = parseInt(form.elements.bits.value, 10);
  const send = document.getElementById("send");
  const status = document.getElementById("status");
  const enc = new TextEncoder();

  function zeroBits(bytes) {
    let n = 0;
    for (const b of bytes) {
      if (b === 0) { n += 8; continue; }
      return n + Math.clz32(b) - 24;
    }
    return n;
  }

  async function solve() {
    for (let counter = 0; ; counter++) {
      const digest = await crypto.subtle.digest("SHA-256", enc.encode(challenge + ":" + counter));
      if (zeroBits(new Uint8Array(digest)) >= bits) return String(counter);
    }
  }

  solve().then(function (counter) {
    form.elements.counter.value = counter;
    send.disabled = false;
    send.textContent = "Send report";
    status.textContent = "Ready.";
  });
})();
