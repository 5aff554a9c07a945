package streams

import (
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func mustLoad(tb testing.TB) *Set {
	tb.Helper()
	set, err := Load()
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return set
}

// TestDefinitionsMatchConstants keeps the Go constants and the JSON files in step: every
// stream, consumer and bucket the code names has a file, with the subjects the code expects,
// and there is no file the code does not name.
func TestDefinitionsMatchConstants(t *testing.T) {
	set := mustLoad(t)

	wantStreams := map[string][]string{
		StreamChat:       {SubjectChatRequest, SubjectChatGenerate},
		StreamVoice:      {SubjectVoiceRequest, SubjectVoiceAnswer, SubjectVoiceSynthesize},
		StreamSTT:        {SubjectSTTAudioAll},
		StreamTTS:        {SubjectTTSRequest},
		StreamPipeline:   {SubjectPipelineTrigger},
		StreamResults:    {SubjectResultAll},
		StreamDeadLetter: {SubjectDeadLetterAll},
		StreamAdvisories: {SubjectAdvisoryMaxDeliveriesAll},
	}
	var gotStreams []string
	for _, s := range set.Streams() {
		gotStreams = append(gotStreams, s.Name)
		want, ok := wantStreams[s.Name]
		if !ok {
			t.Errorf("stream %s has a file but no constant", s.Name)
			continue
		}
		if !slices.Equal(s.Subjects, want) {
			t.Errorf("stream %s subjects = %q, want %q", s.Name, s.Subjects, want)
		}
	}
	for name := range wantStreams {
		if !slices.Contains(gotStreams, name) {
			t.Errorf("stream %s has a constant but no file", name)
		}
	}

	type consumer struct{ stream, filter string }
	wantConsumers := map[string]consumer{
		ConsumerChatRetrieve:         {StreamChat, SubjectChatRequest},
		ConsumerChatGenerate:         {StreamChat, SubjectChatGenerate},
		ConsumerVoiceTranscribe:      {StreamVoice, SubjectVoiceRequest},
		ConsumerVoiceAnswer:          {StreamVoice, SubjectVoiceAnswer},
		ConsumerVoiceSynthesize:      {StreamVoice, SubjectVoiceSynthesize},
		ConsumerSTT:                  {StreamSTT, SubjectSTTAudioAll},
		ConsumerTTS:                  {StreamTTS, SubjectTTSRequest},
		ConsumerPipelineBridge:       {StreamPipeline, SubjectPipelineTrigger},
		ConsumerDeadLetterAdvisories: {StreamAdvisories, SubjectAdvisoryMaxDeliveriesAll},
	}
	var gotConsumers []string
	for _, c := range set.Consumers() {
		name := c.Config.Durable
		gotConsumers = append(gotConsumers, name)
		want, ok := wantConsumers[name]
		if !ok {
			t.Errorf("consumer %s has a file but no constant", name)
			continue
		}
		if c.Stream != want.stream || c.Config.FilterSubject != want.filter {
			t.Errorf("consumer %s is on %s filtering %q, want %s filtering %q",
				name, c.Stream, c.Config.FilterSubject, want.stream, want.filter)
		}
		s, ok := set.Stream(c.Stream)
		if !ok {
			t.Errorf("consumer %s: stream %s has no file", name, c.Stream)
			continue
		}
		if !subjectCovered(c.Config.FilterSubject, s.Subjects) {
			t.Errorf("consumer %s: filter %q is outside stream %s subjects %q", name, c.Config.FilterSubject, s.Name, s.Subjects)
		}
	}
	for name := range wantConsumers {
		if !slices.Contains(gotConsumers, name) {
			t.Errorf("consumer %s has a constant but no file", name)
		}
	}

	var gotBuckets []string
	for _, b := range set.Buckets() {
		gotBuckets = append(gotBuckets, b.Bucket)
	}
	if want := []string{BucketDLQReplays, BucketStatus, BucketPipelineRuns, BucketSTTSessions, BucketVoiceSessions}; !slices.Equal(gotBuckets, want) {
		t.Errorf("buckets = %q, want %q (sorted)", gotBuckets, want)
	}
}

// TestDefinitionSettings pins the settings the runtime relies on (see README.md for why).
func TestDefinitionSettings(t *testing.T) {
	set := mustLoad(t)
	type streamWant struct {
		retention jetstream.RetentionPolicy
		maxAge    time.Duration
		// duplicates is the duplicate window; window_test.go says why each is long enough.
		duplicates time.Duration
	}
	streams := map[string]streamWant{
		StreamChat:       {jetstream.WorkQueuePolicy, 0, 45 * time.Minute},
		StreamVoice:      {jetstream.WorkQueuePolicy, 0, 45 * time.Minute},
		StreamSTT:        {jetstream.LimitsPolicy, time.Hour, 30 * time.Minute},
		StreamTTS:        {jetstream.WorkQueuePolicy, 0, 30 * time.Minute},
		StreamPipeline:   {jetstream.WorkQueuePolicy, 0, 30 * time.Minute},
		StreamResults:    {jetstream.LimitsPolicy, time.Hour, time.Hour},
		StreamDeadLetter: {jetstream.LimitsPolicy, 30 * 24 * time.Hour, time.Hour},
		StreamAdvisories: {jetstream.WorkQueuePolicy, 7 * 24 * time.Hour, 15 * time.Minute},
	}
	for _, s := range set.Streams() {
		t.Run("stream "+s.Name, func(t *testing.T) {
			want := streams[s.Name]
			if s.Retention != want.retention || s.MaxAge != want.maxAge {
				t.Errorf("retention %v max_age %v, want %v %v", s.Retention, s.MaxAge, want.retention, want.maxAge)
			}
			if s.Storage != jetstream.FileStorage || s.Replicas != 1 || s.Discard != jetstream.DiscardOld {
				t.Errorf("storage %v replicas %d discard %v, want file 1 old", s.Storage, s.Replicas, s.Discard)
			}
			if s.Duplicates != want.duplicates {
				t.Errorf("duplicate_window %v, want %v", s.Duplicates, want.duplicates)
			}
			if s.MaxMsgSize <= 0 {
				t.Errorf("max_msg_size %d, want a limit", s.MaxMsgSize)
			}
		})
	}
	ackWait := map[string]time.Duration{
		ConsumerChatRetrieve:         30 * time.Second,
		ConsumerChatGenerate:         time.Minute,
		ConsumerVoiceTranscribe:      time.Minute,
		ConsumerVoiceAnswer:          time.Minute,
		ConsumerVoiceSynthesize:      time.Minute,
		ConsumerSTT:                  time.Minute,
		ConsumerTTS:                  time.Minute,
		ConsumerPipelineBridge:       30 * time.Second,
		ConsumerDeadLetterAdvisories: 30 * time.Second,
	}
	for _, d := range set.Consumers() {
		c := d.Config
		t.Run("consumer "+c.Durable, func(t *testing.T) {
			wantDeliver := 5
			if c.Durable == ConsumerDeadLetterAdvisories {
				wantDeliver = 10
			}
			if c.MaxDeliver != wantDeliver {
				t.Errorf("max_deliver %d, want %d", c.MaxDeliver, wantDeliver)
			}
			if c.AckWait != ackWait[c.Durable] {
				t.Errorf("ack_wait %v, want %v", c.AckWait, ackWait[c.Durable])
			}
			// A backoff list replaces ack_wait with its first value (DESIGN.md pitfall); the
			// runtime computes retry delays with NakWithDelay instead.
			if len(c.BackOff) != 0 {
				t.Errorf("backoff %v, want none", c.BackOff)
			}
			// An inactive threshold would delete the durable while KEDA has scaled it to zero.
			if c.InactiveThreshold != 0 {
				t.Errorf("inactive_threshold %v, want none", c.InactiveThreshold)
			}
			if c.AckPolicy != jetstream.AckExplicitPolicy || c.DeliverPolicy != jetstream.DeliverAllPolicy ||
				c.ReplayPolicy != jetstream.ReplayInstantPolicy {
				t.Errorf("ack %v deliver %v replay %v, want explicit all instant", c.AckPolicy, c.DeliverPolicy, c.ReplayPolicy)
			}
			if c.MaxAckPending <= 0 || c.MaxAckPending > 1000 || c.MaxWaiting != 512 {
				t.Errorf("max_ack_pending %d max_waiting %d, want bounded and 512", c.MaxAckPending, c.MaxWaiting)
			}
		})
	}
	type bucketWant struct {
		ttl          time.Duration
		history      uint8
		maxValueSize int32
	}
	buckets := map[string]bucketWant{
		BucketVoiceSessions: {24 * time.Hour, 5, 256 * 1024},
		BucketSTTSessions:   {time.Hour, 5, 256 * 1024},
		// One small JSON entry per KFP run name; a day outlives a trigger's handling (the
		// bridge follows a run for at most PIPELINE_TIMEOUT, 6h by default).
		BucketPipelineRuns: {24 * time.Hour, 1, 1024},
	}
	for _, b := range set.Buckets() {
		if b.Bucket == BucketStatus {
			continue // its settings differ on purpose; status_test.go pins them
		}
		if b.Bucket == BucketDLQReplays {
			// Replay records: one value per dead letter, kept at least as long as AI_DLQ keeps
			// its letters, or a letter would be replayed twice.
			t.Run("kv "+b.Bucket, func(t *testing.T) {
				dlq, _ := set.Stream(StreamDeadLetter)
				if b.TTL < dlq.MaxAge || b.History != 1 || b.Storage != jetstream.FileStorage {
					t.Errorf("ttl %v history %d storage %v, want at least AI_DLQ's max_age %v, 1, file", b.TTL, b.History, b.Storage, dlq.MaxAge)
				}
			})
			continue
		}
		t.Run("kv "+b.Bucket, func(t *testing.T) {
			want := buckets[b.Bucket]
			if b.TTL != want.ttl || b.History != want.history || b.Storage != jetstream.FileStorage || b.MaxValueSize != want.maxValueSize {
				t.Errorf("ttl %v history %d storage %v max_value_size %d, want %+v on file", b.TTL, b.History, b.Storage, b.MaxValueSize, want)
			}
		})
	}
}

// TestEmbeddedMatchesDisk guards against a definition directory the embed pattern misses.
func TestEmbeddedMatchesDisk(t *testing.T) {
	disk, err := LoadFS(os.DirFS("."))
	if err != nil {
		t.Fatalf("LoadFS(.): %v", err)
	}
	if emb := mustLoad(t); !reflect.DeepEqual(emb, disk) {
		t.Error("embedded definitions differ from the files on disk")
	}
}

func TestSetAccessorsReturnCopies(t *testing.T) {
	set := mustLoad(t)
	s, _ := set.Stream(StreamChat)
	s.Subjects[0] = "changed"
	_, c, _ := set.Consumer(ConsumerChatRetrieve)
	c.FilterSubject = "changed"
	again, _ := set.Stream(StreamChat)
	if again.Subjects[0] != SubjectChatRequest {
		t.Errorf("changing a returned stream config changed the set: %q", again.Subjects)
	}
	if _, c, _ := set.Consumer(ConsumerChatRetrieve); c.FilterSubject != SubjectChatRequest {
		t.Errorf("changing a returned consumer config changed the set: %q", c.FilterSubject)
	}
	if _, ok := set.Stream("NOPE"); ok {
		t.Error("Stream(NOPE) found")
	}
	if _, _, ok := set.Consumer("nope"); ok {
		t.Error("Consumer(nope) found")
	}
	if _, ok := set.Bucket("nope"); ok {
		t.Error("Bucket(nope) found")
	}
	if b, ok := set.Bucket(BucketVoiceSessions); !ok || b.Bucket != BucketVoiceSessions {
		t.Errorf("Bucket(%s) = %v, %v", BucketVoiceSessions, b.Bucket, ok)
	}
}
