// Package standin is a stand-in for the model servers jetflow calls: one HTTP server that speaks
// their real wire formats (research/inference.md section 1) and behaves deterministically and
// honestly, so `make run`, the tests, the benchmarks and the fault tests need no GPU.
//
// Routes, all on one mux (Prefix defaults to /v1, TEIPrefix to the root):
//
//	POST {Prefix}/chat/completions        vLLM/OpenAI chat, plain or SSE streaming (see prompt.go)
//	POST {Prefix}/embeddings              OpenAI embeddings (Embed), float or base64
//	POST {TEIPrefix}/embed                TEI embeddings, a bare array of vectors
//	POST {TEIPrefix}/rerank               TEI rerank, a bare array sorted by score
//	POST {Prefix}/rerank                  Cohere/Jina/vLLM rerank, results[] with relevance_score
//	POST {Prefix}/audio/speech            OpenAI speech: the text as EncodeSpeech audio, pcm or wav
//	POST {Prefix}/audio/transcriptions    OpenAI transcription of a WAV, decoded with DecodeSpeech
//	GET  {Prefix}/models                  the stand-in models
//	GET  /healthz                         always 200, even during an outage
//	GET  /admin/stats                     Stats: calls per route, injected failures, in flight
//	DELETE /admin/stats                   zero the counters
//	POST /admin/outage?for=10s            every model route answers 503 for 10 s; for=0 ends it
//
// Honesty: every response carries the header X-Jetflow-Stand-In: true and every model name starts
// with "jetflow-standin-". The LLM answers only from the sources it was given and says so when it
// has none; the STT returns exactly the text the TTS encoded, and "" for audio that holds no
// stand-in speech; damaged speech is reported (DamagedHeader), never guessed.
//
// Faults, from Config (or STANDIN_* variables, see FromEnv), apply to the model routes only, in
// this order: during an outage a request is answered 503 at once, with Retry-After; otherwise it
// waits Delay plus jitter, then fails with 503 at ErrorRate, then is answered (the LLM adds
// TokenDelay per word). Every wait ends early when the client cancels the request. Errors use
// each API's dialect: vLLM's {"error":{"message","type","param","code"}} on the OpenAI routes,
// TEI's {"error","error_type"} on /embed and /rerank.
package standin
