// The assistant and Ask pages, streamed: the form is sent to its
// data-stream address (/chat/stream by default) and the answer shows piece
// by piece; Stop closes the connection, which stops the model. A `done`
// event may name the page to open then (Ask: the answer with its
// citations). Without this script the forms still work (whole answers).
"use strict";
(function () {
  const form = document.querySelector("form.chat");
  const box = form && form.querySelector("textarea");
  const send = document.getElementById("send");
  const stop = document.getElementById("stop");
  const conversation = document.getElementById("conversation");
  if (!form || !window.fetch || !window.TextDecoder) return;
  let controller = null;

  function turn(role, speaker, text) {
    const div = document.createElement("div");
    div.className = "turn " + role;
    const who = document.createElement("span");
    who.className = "speaker";
    who.textContent = speaker;
    const p = document.createElement("p");
    p.className = "text";
    p.textContent = text;
    div.append(who, p);
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
    conversation.append(div);
    return p;
  }

  function showError(message) {
    const id = form.dataset.error || "chat-error";
    let error = document.getElementById(id);
    if (!error) {
      error = document.createElement("p");
      error.id = id;
      error.className = "error";
      error.setAttribute("role", "alert");
      form.before(error);
    }
    error.textContent = message;
  }

  // One server-sent event: its name and its data (a JSON string).
  function parse(block) {
    let name = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    return { name, data: data ? JSON.parse(data) : "" };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = box.value.trim();
    if (!message) return;
    const body = new URLSearchParams(new FormData(form));
    const old = document.getElementById(form.dataset.error || "chat-error");
    if (old) old.remove();
    turn("user", form.dataset.you, message);
    const answer = turn("assistant", form.dataset.assistant, "");
    answer.setAttribute("aria-busy", "true");
    answer.dataset.streamed = "true";
    box.value = "";
    send.disabled = true;
    stop.hidden = false;
    controller = new AbortController();
    try {
      const response = await fetch(form.dataset.stream || "/chat/stream", {
        method: "POST",
        body,
        signal: controller.signal,
      });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const ev = parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (ev.name === "failure") {
            answer.parentElement.remove();
            box.value = message;
            showError(ev.data);
          } else if (ev.name === "message") {
            answer.textContent += ev.data;
          } else if (ev.name === "done" && ev.data && ev.data.redirect) {
            window.location.assign(ev.data.redirect);
          }
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") showError(form.dataset.unavailable);
    } finally {
      answer.removeAttribute("aria-busy");
      send.disabled = false;
      stop.hidden = true;
      controller = null;
      box.focus();
    }
  });

  stop.addEventListener("click", () => {
    if (controller) controller.abort();
  });
})();
