// Package vad finds speech segments in a stream of PCM16 mono little-endian audio, for the stt
// worker, which cuts each segment out and sends it to the transcription endpoint.
//
// The detector is pure Go and deterministic: it compares each frame's RMS level with a threshold
// (optionally riding on an adaptive noise floor) and runs a small state machine with pre-roll,
// post-roll, minimum speech, minimum silence, a maximum segment length and an idle timeout. It
// finds segment boundaries; rejecting non-speech inside a segment is left to the transcription
// server's own VAD (research/inference.md section 3).
//
// It holds no audio. Events carry sample offsets from the start of the stream, and the caller
// keeps the audio from KeepFrom onwards (the stt worker reads chunks back from the stream by
// sequence). It reads no clock either: the caller says how long no audio has arrived (Idle).
// Its whole state is a small JSON-tagged struct, so the worker can store it in the session's KV
// entry between chunks handled by different replicas and resume exactly where it stopped.
package vad
