// Package stt is the stt-module worker: it turns streamed audio chunks (SttAudioChunk on
// ai.stt.audio.<session>) into transcripts (Transcript on ai.result.stt.<session>).
//
// # Ordering across replicas
//
// Several replicas, each handling several messages at once, may hold chunks of one session. The
// session's entry in the stt-sessions KV bucket decides who advances it, by compare-and-swap on
// its revision: the expected next sequence, the VAD state, the stream offset, references to the
// chunks whose audio is still needed, the chunks that arrived ahead of their turn, and the
// outbox of results not yet published. No audio is kept in KV (NATS max payload is 1 MB): the
// AI_STT stream has limits retention, so a chunk is read back by its stream sequence after it
// was acked.
//
// A chunk behind the expected sequence is a duplicate: it is acked and dropped. A chunk ahead
// of it is recorded (its stream sequence and arrival time) and naked with a delay that ends when
// the gap it waits on times out, so the message itself is the gap timer; when it comes back it
// has either been consumed by the handler of the missing chunk (ack) or the gap has timed out:
// the gap is published as a GAP transcript, carried on the next segment, and the session jumps
// past it. A waiting chunk therefore costs two deliveries, three when a second gap follows the
// first. The chunk at the expected sequence is consumed together with every consecutive
// recorded chunk (read back from the stream), in order, through the VAD.
//
// # Publishing exactly once, in order
//
// Closed segments and gap reports go into the session's outbox in the same CAS that closed them,
// with deterministic ids ("<session>-<n>" for segment n, "<session>-gap-<first missing>" for a
// gap). The outbox is published by the holder of a lease kept in the session: the writer that
// fills an empty outbox takes it in the same CAS, anyone takes it once it has expired
// (STT_PUBLISH_LEASE), and the holder keeps publishing until the outbox is empty. So one
// replica transcribes a segment, not every replica that handles a chunk meanwhile, and item k
// is published only after item k-1. Each published item is removed by a second CAS; a crash
// between publishing and removing leaves it in the outbox, and whoever publishes it again uses
// the same Nats-Msg-Id ("stt:<item id>", from the stage's Output.ID, or stage.BuildOutput in
// the sweeper), so it lands once within the AI_RESULTS duplicate window (1 hour, its max age). Results
// are protojson when the session's chunks are (the session records how its latest chunk came),
// binary protobuf otherwise.
//
// # Idle timeout
//
// A segment still open when chunks stop (a muted microphone, a dropped connection) is closed by
// the sweeper, a second runner of the process: it lists the sessions every STT_SWEEP_INTERVAL,
// closes open segments of sessions without audio for the VAD idle timeout, and publishes
// outboxes whose lease expired (a publisher that crashed).
//
// # Decisions
//
//   - Every closed segment gets a FINAL transcript, even with empty text (silence that passed the
//     VAD, or a segment the server refused with a 4xx, which is logged): a consumer counting
//     segments per turn is never left waiting (research/inference.md section 4.3, rule 4).
//   - Audio of missing chunks is not replaced: offsets and transcript times count the audio
//     received. A chunk lost from the stream (older than its max age) counts as a gap.
//   - The language sent to the transcription server is the primary subtag of the chunk's BCP 47
//     tag ("en" for "en-US"), as Whisper wants ISO-639-1. Without one the server detects it, and
//     the verbose response it is then asked for names it for the transcript.
//   - speaker_id is the client's label, carried and never inferred: the session keeps the latest
//     one a chunk with audio named, and each result carries the label current when its segment
//     closed. Segments are not split at a label change (the VAD splits at silence); a client that
//     needs exact turns per speaker sends each speaker's audio as its own session.
//   - After end_of_stream the session is ended: later chunks are acked and dropped until the
//     session expires (the bucket TTL, an hour after its last change). A new stream needs a new
//     session id.
//   - The session sample rate is fixed by the first chunk that arrives; a chunk with another
//     rate is dead-lettered.
//   - Publishing failures after the chunk's CAS are returned as retryable errors (the runtime
//     retries, the breaker counts them); the outbox survives in KV, so the redelivery, another
//     chunk or the sweeper publishes it. A chunk that runs out of deliveries that way is
//     dead-lettered although its audio was consumed; replaying it is harmless.
package stt

// MaxChunkBytes is the largest audio chunk message the stage decodes: 8 s of 16 kHz PCM16.
// Streams send a chunk every 20 to 200 ms; a larger one is a client bug.
const MaxChunkBytes = 256 << 10
