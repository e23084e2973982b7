// The library page while documents are being read: their status and page
// counts are fetched every two seconds and shown in place, until none is
// queued or being read. The page itself is not reloaded, so a search or an
// upload being filled in is left alone. Without this script the list shows
// what it was when the page was opened.
"use strict";
(function () {
  const table = document.getElementById("document-list");
  const from = table && table.dataset.live;
  if (!from || !window.fetch) return;
  const reading = (status) => status === "queued" || status === "processing";

  async function update() {
    let list;
    try {
      const r = await fetch(from, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (!r.ok || !(r.headers.get("content-type") || "").startsWith("application/json")) return false;
      list = await r.json();
    } catch (e) {
      return true; // a network hiccup: try again later
    }
    let busy = false;
    for (const doc of list) {
      const row = table.querySelector('tr[data-id="' + CSS.escape(doc.id) + '"]');
      if (!row) continue;
      row.querySelector(".status").textContent = doc.status;
      row.querySelector(".pages").textContent =
        doc.pages_done + (doc.pages_total ? " / " + doc.pages_total : "");
      busy = busy || reading(doc.status);
    }
    return busy;
  }

  async function loop() {
    if (await update()) setTimeout(loop, 2000);
  }
  setTimeout(loop, 2000);
})();
