// The page: the API key, the question and its streamed answer, speech, and the stages table.
// Every call goes through jetflowConnect (connect.js) to the gateway that served the page.
"use strict";

(() => {
  const { ConnectError, unary, serverStream } = jetflowConnect;
  const $ = (id) => document.getElementById(id);
  const keyStorage = "jetflow.apiKey";
  const stagesEveryMs = 1000;

  // ---- the API key ----------------------------------------------------------------------

  const keyInput = $("api-key");
  const keyStatus = $("key-status");

  function apiKey() {
    return keyInput.value.trim();
  }

  function loadKey() {
    try {
      keyInput.value = localStorage.getItem(keyStorage) || "";
    } catch (_) {
      // Storage may be off (private windows): the key then lasts as long as the page.
    }
    keyStatus.textContent = apiKey() ? "key loaded from this browser" : "no key yet: paste the one jetflow dev printed";
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      localStorage.setItem(keyStorage, apiKey());
      keyStatus.textContent = "key saved in this browser";
    } catch (_) {
      keyStatus.textContent = "key in use (this browser does not keep it)";
    }
    loadVoices();
    refreshStages();
  });

  $("forget-key").addEventListener("click", () => {
    keyInput.value = "";
    try {
      localStorage.removeItem(keyStorage);
    } catch (_) {
      // Nothing was kept.
    }
    keyStatus.textContent = "key forgotten";
  });

  // ---- shared helpers --------------------------------------------------------------------

  // newID makes a request id ([A-Za-z0-9_-]): crypto.getRandomValues also works on pages not
  // served over HTTPS, unlike crypto.randomUUID.
  function newID(prefix) {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  // explain turns an error into a sentence that says what to do.
  function explain(err) {
    if (!(err instanceof ConnectError)) return `Something went wrong in the page: ${err.message}`;
    const said = err.rawMessage ? ` (${err.rawMessage})` : "";
    switch (err.code) {
      case "unauthenticated":
        return `The gateway needs an API key${said}: paste the key jetflow dev printed above and press Use key.`;
      case "permission_denied":
        return `This key may not call that service${said}: use a key that allows it.`;
      case "resource_exhausted":
        return `Slow down: this key is over its rate${said}. Try again in a moment.`;
      case "deadline_exceeded":
        return `No answer in time${said}: the workers may be busy or stopped; try again.`;
      case "unavailable":
        return `The gateway or JetStream is unavailable${said}: is jetflow dev (or the gateway) running?`;
      case "invalid_argument":
        return `The request was refused${said}: correct the field it names.`;
      case "canceled":
        return "Cancelled.";
      default:
        return err.message;
    }
  }

  function setStatus(element, text, isError) {
    element.textContent = text;
    element.classList.toggle("error", Boolean(isError));
  }

  function base64Bytes(text) {
    const binary = atob(text || "");
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // ---- ask a question --------------------------------------------------------------------

  const chat = $("chat");
  const answer = $("answer");
  const sources = $("sources");
  const chatStatus = $("chat-status");
  let chatCall = null;

  function renderSources(list) {
    sources.replaceChildren();
    for (const source of list) {
      const item = document.createElement("li");
      const meta = source.metadata || {};
      const title = document.createElement("strong");
      title.textContent = meta.title || source.id || "passage";
      const where = document.createElement("span");
      where.className = "meta";
      const place = [source.collection, meta.title && source.id ? `#${source.id}` : ""].filter(Boolean);
      if (typeof source.score === "number") place.push(`score ${source.score.toFixed(3)}`);
      where.textContent = place.length ? ` ${place.join(" · ")}` : "";
      const text = document.createElement("span");
      text.className = "text";
      const passage = source.text || "";
      text.textContent = passage.length > 400 ? `${passage.slice(0, 400)}…` : passage;
      item.append(title, where, text);
      sources.append(item);
    }
    if (list.length === 0) {
      const item = document.createElement("li");
      item.className = "meta";
      item.textContent = "no sources (answered without retrieval)";
      sources.append(item);
    }
  }

  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = $("question").value.trim();
    if (!query) return;
    if (chatCall) chatCall.abort();
    const call = new AbortController();
    chatCall = call;
    answer.textContent = "";
    sources.replaceChildren();
    chat.dataset.state = "streaming";
    setStatus(chatStatus, "asking…");
    const started = performance.now();
    let tokens = 0;
    try {
      const request = { request: { requestId: newID("page"), query } };
      for await (const event of serverStream("/jetflow.v1.ChatService/ChatStream", request,
        { key: apiKey(), timeoutMs: 120000, signal: call.signal })) {
        if (event.token) {
          tokens++;
          answer.textContent += event.token.text || "";
          setStatus(chatStatus, `streaming… ${tokens} tokens`);
        } else if (event.response) {
          const response = event.response;
          // The final message is the durable answer: live tokens may have gaps.
          answer.textContent = response.answer || "";
          renderSources(response.sources || []);
          const model = response.model ? ` by ${response.model}` : "";
          const standIn = response.standIn ? " (a stand-in model)" : "";
          const ms = performance.now() - started;
          const took = ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
          setStatus(chatStatus, `answered${model}${standIn} in ${took}, ${tokens} tokens streamed`);
          chat.dataset.state = "done";
        }
      }
      if (chat.dataset.state !== "done") throw new ConnectError("internal", "the stream ended without the final answer");
    } catch (err) {
      if (chatCall !== call) return; // a newer question replaced this one
      chat.dataset.state = "error";
      setStatus(chatStatus, explain(err), true);
    } finally {
      if (chatCall === call) chatCall = null;
    }
  });

  // ---- hear it spoken --------------------------------------------------------------------

  const speak = $("speak");
  const speakStatus = $("speak-status");
  const audio = $("audio");
  let audioURL = "";

  const mimeOfEncoding = {
    ENCODING_WAV: "audio/wav",
    ENCODING_MP3: "audio/mpeg",
    ENCODING_OPUS: "audio/ogg",
    ENCODING_FLAC: "audio/flac",
  };

  // wavOfPCM puts raw PCM16 mono in a WAV container, which an <audio> element plays.
  function wavOfPCM(parts, sampleRate) {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const wav = new Uint8Array(44 + size);
    const view = new DataView(wav.buffer);
    const ascii = (offset, text) => { for (let i = 0; i < text.length; i++) wav[offset + i] = text.charCodeAt(i); };
    ascii(0, "RIFF"); view.setUint32(4, 36 + size, true); ascii(8, "WAVE");
    ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, sampleRate, true); view.setUint32(28, sampleRate * 2, true);
    view.setUint16(32, 2, true); view.setUint16(34, 16, true);
    ascii(36, "data"); view.setUint32(40, size, true);
    let offset = 44;
    for (const part of parts) { wav.set(part, offset); offset += part.length; }
    return wav;
  }

  $("speak-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("speak-text").value.trim();
    if (!text) return;
    const button = $("say");
    button.disabled = true;
    speak.dataset.state = "streaming";
    setStatus(speakStatus, "speaking…");
    try {
      const request = {
        request: { requestId: newID("page"), text, voice: $("voice").value, format: { encoding: "ENCODING_WAV" } },
      };
      const parts = [];
      let format = {};
      for await (const event of serverStream("/jetflow.v1.SpeechService/Synthesize", request,
        { key: apiKey(), timeoutMs: 60000 })) {
        const chunk = event.chunk;
        if (!chunk) continue;
        parts.push(base64Bytes(chunk.audio));
        format = chunk.format || format;
        setStatus(speakStatus, `receiving audio… ${parts.length} chunks`);
      }
      const encoding = format.encoding || "ENCODING_PCM16";
      const blob = encoding === "ENCODING_PCM16"
        ? new Blob([wavOfPCM(parts, format.sampleRate || 24000)], { type: "audio/wav" })
        : new Blob(parts, { type: mimeOfEncoding[encoding] || "application/octet-stream" });
      if (audioURL) URL.revokeObjectURL(audioURL);
      audioURL = URL.createObjectURL(blob);
      audio.src = audioURL;
      setStatus(speakStatus, `${blob.size} bytes of ${encoding.replace("ENCODING_", "").toLowerCase()} audio`);
      speak.dataset.state = "done";
      // A browser may refuse to play before the user has interacted; the controls are there.
      audio.play().catch(() => {});
    } catch (err) {
      speak.dataset.state = "error";
      setStatus(speakStatus, explain(err), true);
    } finally {
      button.disabled = false;
    }
  });

  async function loadVoices() {
    const select = $("voice");
    if (!apiKey()) return;
    try {
      const response = await unary("/jetflow.v1.SpeechService/ListVoices", {}, { key: apiKey(), timeoutMs: 5000 });
      const chosen = select.value;
      select.replaceChildren(new Option("default voice", ""));
      for (const voice of response.voices || []) {
        const label = voice.name && voice.name !== voice.id ? `${voice.name} (${voice.id})` : voice.id;
        select.append(new Option(voice.language ? `${label}, ${voice.language}` : label, voice.id));
      }
      select.value = chosen;
    } catch (_) {
      // The worker's default voice still works; the list comes back with the next key.
    }
  }

  // ---- the stages --------------------------------------------------------------------------

  const stageRows = $("stage-rows");
  const stagesStatus = $("stages-status");
  let stagesTimer = 0;
  let stagesBusy = false;

  function cell(row, value, numeric) {
    const td = document.createElement("td");
    td.textContent = value;
    if (numeric) td.className = "n";
    row.append(td);
  }

  function renderStages(stages) {
    stageRows.replaceChildren();
    for (const stage of stages) {
      const row = document.createElement("tr");
      const count = (name) => Number(stage[name] || 0);
      cell(row, stage.stage || "");
      cell(row, stage.stream || "");
      for (const name of ["pending", "ackPending", "redelivered", "deadLetters", "waiting"]) {
        cell(row, String(count(name)), true);
      }
      if (count("deadLetters") > 0) row.className = "attention";
      stageRows.append(row);
    }
  }

  // refreshStages reads AdminService.Status now and again every second after each answer, so
  // a slow gateway is never asked twice at once.
  async function refreshStages() {
    clearTimeout(stagesTimer);
    if (stagesBusy) return;
    if (!apiKey()) {
      setStatus(stagesStatus, "Enter an API key above to see the stages (an admin key: jetflow dev's is one).");
      stagesTimer = setTimeout(refreshStages, stagesEveryMs);
      return;
    }
    stagesBusy = true;
    try {
      const response = await unary("/jetflow.v1.AdminService/Status", {}, { key: apiKey(), timeoutMs: 5000 });
      renderStages(response.stages || []);
      setStatus(stagesStatus, `updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      setStatus(stagesStatus, err instanceof ConnectError && err.code === "permission_denied"
        ? "The stages table needs an admin key: this key is not one."
        : explain(err), true);
    } finally {
      stagesBusy = false;
      stagesTimer = setTimeout(refreshStages, stagesEveryMs);
    }
  }

  loadKey();
  loadVoices();
  refreshStages();
})();
