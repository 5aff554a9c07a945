// Package voice is voice-assistant: a spoken question becomes a spoken answer through three
// durable stages on the AI_VOICE work queue, each its own consumer with its own breakers, so
// that a failure in a later stage never repeats the model calls of an earlier one:
//
//	voice-transcribe  ai.voice.request     VoiceRequest -> STT -> VoiceTurn (transcript, no audio)
//	voice-answer      ai.voice.answer      VoiceTurn -> RAG retrieve + LLM with the session's
//	                                       history -> VoiceTurn (answer, sources)
//	voice-synthesize  ai.voice.synthesize  VoiceTurn -> TTS -> TtsAudioChunk messages, then the
//	                                       VoiceResponse, on ai.result.voice.<request_id>
//
// An empty transcript (silence, noise) ends the turn at voice-transcribe with a VoiceResponse
// whose transcript and answer are empty and audio_chunks is 0: nothing was heard, nothing is
// asked of the LLM.
//
// # Turns and barge-in
//
// Every output carries the turn id: VoiceRequest.turn_id, or the request id when it is empty.
// A request with a session id takes part in the session's conversation, kept in the
// voice-sessions KV bucket under the session id (sessionState): voice-transcribe makes its turn
// the session's current turn by compare-and-swap as soon as it starts, which is the barge-in:
// the user speaking again means the old answer is no longer wanted. Turns are ordered by the
// AI_VOICE stream sequence their requests were first published at, so a request that reaches
// voice-transcribe late (a redelivery, a copy requeued while a breaker was open, a slower
// replica) never takes the session back from a newer turn.
//
// Each replica runs a turn registry (Turns) that watches the bucket. Every stage handler of a
// session's turn registers its context there and checks that its turn is still current; when
// the session's current turn changes, the registry cancels the contexts of the old turn's
// handlers in this process, which aborts their LLM, STT or TTS requests. A handler whose turn
// was superseded returns no outputs and no error: its input is acked and dropped, not retried.
// Handlers check the session again just before they publish, so the output of a superseded turn
// is not published even when the watch was late or down (its model call then just runs to the
// end). Audio chunks published before a turn was superseded may reach the client; they carry
// the turn id, so a client drops those of a turn that is not its latest.
//
// A session deleted from the bucket supersedes its turns in flight. Requests without a session
// id have no history and no barge-in.
//
// # History
//
// Only what was actually answered enters the history: voice-synthesize appends the user's
// transcript and the assistant's answer after it has published the VoiceResponse, by CAS, and
// only while the turn is still current. A superseded turn leaves no trace in the conversation.
// The history keeps the latest Config.HistoryMessages messages, within the bucket's value size.
//
// # Audio
//
// Input audio is PCM16 (format.sample_rate required) or WAV; an unspecified format is detected
// from the bytes. Compressed formats are dead-lettered: the transcription client uploads WAV.
// Output audio is PCM16 mono at Config.SampleRate (the TTS server's pcm rate), split with
// internal/audio/audiochunk into chunks that fit a message. A long answer is spoken in pieces
// of at most Config.MaxSpeechChars characters, cut at sentence ends, one TTS call each, into
// one stream of chunks.
//
// Configuration: Build and ConfigFromEnv.
package voice

// MaxRequestBytes is the largest VoiceRequest voice-transcribe decodes: about 28 s of 16 kHz
// PCM16 audio. Longer speech belongs on the stt-module's chunked stream.
const MaxRequestBytes = 900 << 10
