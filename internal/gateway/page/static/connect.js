// The Connect protocol's JSON, spoken by the page to the gateway's services on its own origin.
// A unary call is a POST of the request as application/json, answered with the response as JSON
// (or an error body {code, message} under a non-200 status). A server-streaming call posts the
// request as one enveloped frame of application/connect+json and reads frames back: one flag
// byte, a 4-byte big-endian length, then that many bytes of JSON. The frame flagged end-of-stream
// ends the call and carries its error, if any. Compression is never asked for, so a compressed
// frame is an error.
"use strict";

const jetflowConnect = (() => {
  const flagCompressed = 0x01;
  const flagEndStream = 0x02;
  // The page's calls carry small messages; a larger frame means the stream is not what it seems.
  const maxFrameBytes = 16 << 20;

  class ConnectError extends Error {
    constructor(code, message, details) {
      super(message ? `${code}: ${message}` : code);
      this.code = code;
      this.rawMessage = message || "";
      this.details = details || [];
    }
  }

  // The Connect code of an HTTP status, for answers that carry no Connect error body.
  function codeOfStatus(status) {
    switch (status) {
      case 400: return "invalid_argument";
      case 401: return "unauthenticated";
      case 403: return "permission_denied";
      case 404: return "unimplemented";
      case 408: return "deadline_exceeded";
      case 429: return "resource_exhausted";
      case 502: case 503: case 504: return "unavailable";
      default: return "unknown";
    }
  }

  function errorOfBody(status, text) {
    try {
      const body = JSON.parse(text);
      if (body && typeof body.code === "string") {
        return new ConnectError(body.code, body.message, body.details);
      }
    } catch (_) {
      // Not a Connect error body: described from the status below.
    }
    return new ConnectError(codeOfStatus(status), `HTTP ${status} ${text.slice(0, 200)}`.trim());
  }

  function headers(contentType, options) {
    const h = { "Content-Type": contentType, "Connect-Protocol-Version": "1" };
    if (options.key) h.Authorization = `Bearer ${options.key}`;
    if (options.timeoutMs) h["Connect-Timeout-Ms"] = String(options.timeoutMs);
    return h;
  }

  async function post(procedure, contentType, body, options) {
    try {
      return await fetch(procedure, {
        method: "POST",
        headers: headers(contentType, options),
        body,
        signal: options.signal,
        cache: "no-store",
      });
    } catch (err) {
      if (err.name === "AbortError") throw new ConnectError("canceled", "the call was cancelled");
      throw new ConnectError("unavailable", `the gateway did not answer (${err.message}): is it running?`);
    }
  }

  // unary calls procedure ("/jetflow.v1.AdminService/Status") with request and returns the
  // response message. options: key (the API key), timeoutMs, signal.
  async function unary(procedure, request, options = {}) {
    const resp = await post(procedure, "application/json", JSON.stringify(request), options);
    const text = await resp.text();
    if (!resp.ok) throw errorOfBody(resp.status, text);
    try {
      return text ? JSON.parse(text) : {};
    } catch (err) {
      throw new ConnectError("internal", `the answer is not JSON: ${err.message}`);
    }
  }

  function envelope(message) {
    const payload = new TextEncoder().encode(JSON.stringify(message));
    const frame = new Uint8Array(5 + payload.length);
    new DataView(frame.buffer).setUint32(1, payload.length, false);
    frame.set(payload, 5);
    return frame;
  }

  // FrameParser cuts the bytes of a stream, as they arrive in any pieces, into frames.
  class FrameParser {
    constructor() {
      this.buffer = new Uint8Array(0);
    }

    push(bytes) {
      const joined = new Uint8Array(this.buffer.length + bytes.length);
      joined.set(this.buffer);
      joined.set(bytes, this.buffer.length);
      this.buffer = joined;
    }

    // next returns the next whole frame {flags, data}, or null until more bytes arrive.
    next() {
      if (this.buffer.length < 5) return null;
      const view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length);
      const length = view.getUint32(1, false);
      if (length > maxFrameBytes) {
        throw new ConnectError("resource_exhausted", `a frame of ${length} bytes is over the page's ${maxFrameBytes}`);
      }
      if (this.buffer.length < 5 + length) return null;
      const frame = { flags: this.buffer[0], data: this.buffer.slice(5, 5 + length) };
      this.buffer = this.buffer.slice(5 + length);
      return frame;
    }

    get pending() {
      return this.buffer.length;
    }
  }

  function parseJSON(bytes) {
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new ConnectError("internal", `a frame is not JSON: ${err.message}`);
    }
  }

  // serverStream calls a server-streaming procedure and yields each response message as it
  // arrives; it returns after the end-of-stream frame and throws the call's error, if any.
  async function* serverStream(procedure, request, options = {}) {
    const resp = await post(procedure, "application/connect+json", envelope(request), options);
    if (!resp.ok) throw errorOfBody(resp.status, await resp.text());
    const reader = resp.body.getReader();
    const parser = new FrameParser();
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (err.name === "AbortError") throw new ConnectError("canceled", "the call was cancelled");
          throw new ConnectError("unavailable", `the stream broke off (${err.message})`);
        }
        if (chunk.value) parser.push(chunk.value);
        for (let frame = parser.next(); frame !== null; frame = parser.next()) {
          if (frame.flags & flagCompressed) {
            throw new ConnectError("internal", "the gateway sent a compressed frame the page did not ask for");
          }
          const message = parseJSON(frame.data);
          if (frame.flags & flagEndStream) {
            if (message.error) {
              throw new ConnectError(message.error.code || "unknown", message.error.message, message.error.details);
            }
            return;
          }
          yield message;
        }
        if (chunk.done) {
          const left = parser.pending ? ` with ${parser.pending} bytes of a frame left` : "";
          throw new ConnectError("unavailable", `the stream ended before its end-of-stream frame${left}`);
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  return { ConnectError, FrameParser, unary, serverStream, envelope };
})();
