package voice

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/rag"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
	"github.com/jetflow-dev/jetflow/internal/upstream/speech"
	"github.com/jetflow-dev/jetflow/internal/upstream/transcribe"
	"github.com/jetflow-dev/jetflow/internal/worker"
)

// Build assembles voice-assistant from the environment:
//
//	VOICE_STAGES   the stages this process runs, comma-separated, of transcribe, answer and
//	               synthesize (all three); KEDA can then scale each stage's Deployment on
//	               its own consumer's lag
//	STT_URL, STT_MODEL, STT_API_KEY, STT_TIMEOUT    the transcription endpoint (transcribe)
//	TTS_URL, TTS_MODEL, TTS_API_KEY, TTS_TIMEOUT    the speech endpoint (synthesize)
//	VOICE_BREAKER_*                                 the breakers, one set per stage
//	LLM_*, EMBEDDINGS_*, RERANKER_*, MILVUS_*, RAG_*  the RAG, as chat-handler reads them
//	                                                  (rag.FromEnv; answer)
//
// and the tuning ConfigFromEnv reads. Only the clients of the stages that run are built, so a
// synthesize-only Deployment needs no LLM configuration.
func Build(ctx context.Context, env *worker.Env) ([]worker.Runner, error) {
	r := env.Config
	cfg := ConfigFromEnv(r)
	stages := stagesFromEnv(r.String("VOICE_STAGES", "transcribe,answer,synthesize"), r.Fail)
	run := func(name string) bool { return slices.Contains(stages, name) }
	var sttCfg, ttsCfg modelhttp.Config
	if run(StageTranscribe) {
		sttCfg = env.ModelServer(transcribe.EnvPrefix, "the transcription server's base URL, up to and including /v1")
	}
	if run(StageSynthesize) {
		ttsCfg = env.ModelServer(speech.EnvPrefix, "the speech server's base URL, up to and including /v1")
	}
	breakers := Breakers{
		Transcribe: env.Breakers(StageTranscribe, "VOICE"),
		Answer:     env.Breakers(StageAnswer, "VOICE"),
		Synthesize: env.Breakers(StageSynthesize, "VOICE"),
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	var clients Clients
	if run(StageTranscribe) {
		c, err := transcribe.New(sttCfg)
		if err != nil {
			return nil, fmt.Errorf("configuring the transcription client (STT_URL): %w", err)
		}
		clients.STT = c
	}
	if run(StageSynthesize) {
		c, err := speech.New(ttsCfg)
		if err != nil {
			return nil, fmt.Errorf("configuring the speech client (TTS_URL): %w", err)
		}
		clients.TTS = c
	}
	if run(StageAnswer) {
		pipeline, err := rag.FromEnv(ctx, r, env.Lookup)
		if err != nil {
			return nil, err
		}
		env.AtStop(pipeline.Close) // the Milvus connection, once no handler can use it
		clients.RAG = pipeline
	}
	w, err := New(env.JS, clients, breakers, cfg, env.Log)
	if err != nil {
		return nil, err
	}
	specs, err := w.Specs(stages...)
	if err != nil {
		return nil, err
	}
	runners, err := env.Stages(specs...)
	if err != nil {
		return nil, err
	}
	env.Log.Info("voice-assistant configured", "stages", stages, "history_messages", w.cfg.HistoryMessages,
		"sample_rate", w.cfg.SampleRate, "chunk_bytes", w.chunkBytes)
	return append(runners, w.Turns()), nil
}

// stagesFromEnv maps VOICE_STAGES' short names to stage names.
func stagesFromEnv(v string, fail func(name, format string, args ...any)) []string {
	short := map[string]string{"transcribe": StageTranscribe, "answer": StageAnswer, "synthesize": StageSynthesize}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, ok := short[f]
		if !ok {
			fail("VOICE_STAGES", "%q is not transcribe, answer or synthesize", f)
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		fail("VOICE_STAGES", "names no stage")
	}
	// Workflow order, whatever order the variable lists them in.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(AllStages, a) - slices.Index(AllStages, b) })
	return out
}
