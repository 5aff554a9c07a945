package deploy

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/streams"
)

// The gateway's NATS user (GATEWAY_PERMISSIONS in deploy/nats/accounts.conf) is tested by what
// the gateway does rather than through Workers(): it serves no consumer. Both tests run against
// a server started from deploy/nats.

// gatewayRequestSubjects are the subjects the gateway publishes requests on.
var gatewayRequestSubjects = []string{
	streams.SubjectChatRequest, streams.SubjectVoiceRequest, streams.SubjectTTSRequest,
	streams.SubjectPipelineTrigger, streams.STTAudioSubject("gw-session"),
}

// gatewayReplaySubjects are the inputs of stages that are not requests, which only
// AdminService.ReplayDeadLetters publishes to (a dead letter goes back to its original subject).
var gatewayReplaySubjects = []string{streams.SubjectChatGenerate, streams.SubjectVoiceAnswer, streams.SubjectVoiceSynthesize}

// TestGatewayPermissionsAllowTheJob does, as the gateway's user, every kind of call the gateway
// makes: publish requests, wait for and read results, relay tokens, follow dead letters and STT
// sessions, ask for the voices, and AdminService's reads and replays. The server must refuse
// none of it.
func TestGatewayPermissionsAllowTheJob(t *testing.T) {
	env := startNATS(t)
	c := env.connect(t, userGateway)
	t.Run("requests", func(t *testing.T) {
		ctx := stepContext(t)
		for _, subject := range gatewayRequestSubjects {
			if _, err := c.js.Publish(ctx, subject, []byte("req"), jetstream.WithMsgID("gw-"+subject)); err != nil {
				t.Errorf("publishing a request to %s: %v", subject, err)
			}
		}
	})
	t.Run("voices", func(t *testing.T) {
		sub, err := env.nc.Subscribe(streams.SubjectTTSVoices, func(m *nats.Msg) { _ = m.Respond([]byte(`{"voices":[]}`)) })
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		if err := env.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.nc.Request(streams.SubjectTTSVoices, nil, 5*time.Second); err != nil {
			t.Errorf("asking for the voices: %v", err)
		}
	})
	t.Run("results", func(t *testing.T) { env.gatewayReadsResults(stepContext(t), t, c) })
	t.Run("tokens and dead letters", func(t *testing.T) {
		ctx := stepContext(t)
		tokens := subscribe(t, c, streams.TokenStreamSubject("gw-1"))
		letters := subscribe(t, c, streams.SubjectDeadLetterAll)
		if err := env.nc.Publish(streams.TokenStreamSubject("gw-1"), []byte("tok")); err != nil {
			t.Fatal(err)
		}
		env.publish(ctx, t, streams.DeadLetterSubject(streams.ConsumerChatGenerate), []byte("letter"))
		for _, sub := range []*nats.Subscription{tokens, letters} {
			if _, err := sub.NextMsgWithContext(ctx); err != nil {
				t.Errorf("nothing on %s: %v", sub.Subject, err)
			}
		}
	})
	t.Run("stt session", func(t *testing.T) {
		ctx := stepContext(t)
		wake := subscribe(t, c, "$KV."+streams.BucketSTTSessions+".gw-session")
		admin, err := env.admin.KeyValue(ctx, streams.BucketSTTSessions)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Put(ctx, "gw-session", []byte(`{"ended":true}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := wake.NextMsgWithContext(ctx); err != nil {
			t.Errorf("no wake-up on the session's key: %v", err)
		}
		kv, err := c.js.KeyValue(ctx, streams.BucketSTTSessions)
		if err != nil {
			t.Fatalf("opening %s: %v", streams.BucketSTTSessions, err)
		}
		if e, err := kv.Get(ctx, "gw-session"); err != nil || string(e.Value()) != `{"ended":true}` {
			t.Errorf("reading the session: %v", err)
		}
	})
	t.Run("admin status", func(t *testing.T) {
		ctx := stepContext(t)
		for _, d := range env.set.Consumers() {
			if _, err := c.js.Consumer(ctx, d.Stream, d.Config.Durable); err != nil {
				t.Errorf("reading consumer %s of %s: %v", d.Config.Durable, d.Stream, err)
			}
		}
		env.publishStatus(ctx, t, c, Worker{Name: userGateway})
		kv, err := c.js.KeyValue(ctx, streams.BucketStatus)
		if err != nil {
			t.Fatalf("opening %s: %v", streams.BucketStatus, err)
		}
		readAll(ctx, t, kv)
	})
	t.Run("admin dead letters", func(t *testing.T) { env.gatewayHandlesDeadLetters(stepContext(t), t, c) })
	c.noErrors(t)
}

func subscribe(t *testing.T, c *userConn, subject string) *nats.Subscription {
	t.Helper()
	sub, err := c.nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

// readAll reads every value of a bucket with a watch, as `jetflow status` and `jetflow dlq`
// read theirs.
func readAll(ctx context.Context, t *testing.T, kv jetstream.KeyValue) {
	t.Helper()
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		t.Fatalf("watching %s: %v", kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return // every current value delivered
			}
		case <-ctx.Done():
			t.Fatalf("reading %s: %v", kv.Bucket(), ctx.Err())
		}
	}
}

// gatewayReadsResults: a result stored on its subject wakes the gateway's subscription, and the
// gateway reads it (and one stored before it subscribed) from AI_RESULTS by direct get of the
// next message on the subject.
func (e *natsEnv) gatewayReadsResults(ctx context.Context, t *testing.T, c *userConn) {
	t.Helper()
	early := streams.ResultSubject(streams.ResultKindTTS, "gw-early")
	e.publish(ctx, t, early, []byte("chunk-0"))
	subject := streams.ResultSubject(streams.ResultKindChat, "gw-1")
	wake := subscribe(t, c, subject)
	e.publish(ctx, t, subject, []byte("answer"))
	if _, err := wake.NextMsgWithContext(ctx); err != nil {
		t.Errorf("no wake-up on %s: %v", subject, err)
	}
	results, err := c.js.Stream(ctx, streams.StreamResults)
	if err != nil {
		t.Fatalf("looking up %s: %v", streams.StreamResults, err)
	}
	for _, s := range []string{early, subject} {
		if m, err := results.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(s)); err != nil || m.Subject != s {
			t.Errorf("reading the first result on %s: %v", s, err)
		}
	}
}

// gatewayHandlesDeadLetters does what AdminService's dead-letter calls do, the way `jetflow
// dlq` does it: count, list with an ordered consumer, count the recent ones with a throwaway
// consumer, read one, and replay it to its original subject, recorded in dlq-replays (the
// letter stays in AI_DLQ).
func (e *natsEnv) gatewayHandlesDeadLetters(ctx context.Context, t *testing.T, c *userConn) {
	t.Helper()
	seq := e.publish(ctx, t, streams.DeadLetterSubject(streams.ConsumerChatGenerate), []byte("poison"))
	dlq, err := c.js.Stream(ctx, streams.StreamDeadLetter)
	if err != nil {
		t.Fatalf("looking up %s: %v", streams.StreamDeadLetter, err)
	}
	if _, err := dlq.Info(ctx, jetstream.WithSubjectFilter(streams.SubjectDeadLetterAll)); err != nil {
		t.Errorf("counting dead letters per subject: %v", err)
	}
	if _, err := dlq.GetLastMsgForSubject(ctx, streams.DeadLetterSubject(streams.ConsumerChatGenerate)); err != nil {
		t.Errorf("reading the newest dead letter: %v", err)
	}
	ordered, err := dlq.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.SubjectDeadLetterAll}, HeadersOnly: true})
	if err != nil {
		t.Fatalf("listing dead letters: %v", err)
	}
	if _, err := ordered.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
		t.Errorf("listing dead letters: %v", err)
	}
	since := time.Now().Add(-time.Hour)
	counter, err := c.js.CreateConsumer(ctx, streams.StreamDeadLetter, jetstream.ConsumerConfig{
		FilterSubject: streams.SubjectDeadLetterAll, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
		AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, InactiveThreshold: time.Minute,
	})
	if err != nil {
		t.Fatalf("creating a counting consumer on %s: %v", streams.StreamDeadLetter, err)
	}
	if err := c.js.DeleteConsumer(ctx, streams.StreamDeadLetter, counter.CachedInfo().Name); err != nil {
		t.Errorf("deleting the counting consumer: %v", err)
	}
	if m, err := dlq.GetMsg(ctx, seq); err != nil || string(m.Data) != "poison" {
		t.Errorf("reading dead letter %d: %v", seq, err)
	}

	replays, err := c.js.KeyValue(ctx, streams.BucketDLQReplays)
	if err != nil {
		t.Fatalf("opening %s: %v", streams.BucketDLQReplays, err)
	}
	readAll(ctx, t, replays)
	rev, err := replays.Create(ctx, "1", []byte(`{"state":"publishing"}`))
	if err != nil {
		t.Fatalf("recording a replay: %v", err)
	}
	for _, subject := range append(slices.Clone(gatewayRequestSubjects), gatewayReplaySubjects...) {
		name, err := c.js.StreamNameBySubject(ctx, subject)
		if err != nil {
			t.Errorf("finding the stream of %s: %v", subject, err)
			continue
		}
		if _, err := c.js.Stream(ctx, name); err != nil {
			t.Errorf("reading the duplicate window of %s: %v", name, err)
		}
		if _, err := c.js.Publish(ctx, subject, []byte("replayed"), jetstream.WithMsgID("replay-"+subject)); err != nil {
			t.Errorf("replaying to %s: %v", subject, err)
		}
	}
	if _, err := replays.Update(ctx, "1", []byte(`{"state":"replayed"}`), rev); err != nil {
		t.Errorf("confirming the replay: %v", err)
	}
	if _, err := replays.Get(ctx, "1"); err != nil {
		t.Errorf("reading a replay's record: %v", err)
	}
}

// TestGatewayPermissionsRefuseTheRest has the gateway's user try what belongs to the workers or
// to operators: consume or ack a stage's messages, publish results, dead letters or tokens,
// remove dead letters,
// write the workers' buckets, read the audio in AI_STT, administer streams and consumers,
// answer the voices service, and listen to traffic beyond its calls. The server refuses each.
func TestGatewayPermissionsRefuseTheRest(t *testing.T) {
	env := startNATS(t)
	c := env.connect(t, userGateway)
	publishes := []string{
		streams.DeadLetterSubject("tts"), streams.TokenStreamSubject("x"),
		"$JS.API.STREAM.CREATE.AI_EVIL", "$JS.API.STREAM.DELETE.AI_DLQ", "$JS.API.STREAM.PURGE.AI_RESULTS",
		"$JS.API.STREAM.UPDATE.AI_CHAT", "$JS.API.STREAM.PURGE.AI_DLQ", "$JS.API.STREAM.PURGE.KV_dlq-replays",
		"$JS.API.STREAM.MSG.DELETE.AI_RESULTS", "$JS.API.STREAM.MSG.DELETE.AI_CHAT", "$JS.API.STREAM.MSG.DELETE.AI_DLQ", "$JS.API.STREAM.MSG.GET.AI_CHAT",
		"$JS.API.DIRECT.GET.AI_STT", "$JS.API.DIRECT.GET.AI_STT.ai.stt.audio.s1",
		"$JS.API.CONSUMER.CREATE.AI_RESULTS.spy", "$JS.API.CONSUMER.CREATE.AI_RESULTS.spy.ai.result.>",
		"$JS.API.CONSUMER.CREATE.AI_STT.spy", "$JS.API.ACCOUNT.PURGE.JETFLOW", "$JS.API.CONSUMER.LIST.AI_CHAT",
		"$JS.API.CONSUMER.INFO.AI_DLQ.x", "$JS.API.CONSUMER.INFO.AI_RESULTS.x",
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.AI_CHAT.chat-retrieve",
		"$JS.API.CONSUMER.MSG.NEXT.AI_ADVISORIES.dead-letter-advisories",
		"$KV." + streams.BucketSTTSessions + ".x",
		"$JS.API.CONSUMER.CREATE.KV_" + streams.BucketSTTSessions + ".x.$KV." + streams.BucketSTTSessions + ".>",
		"$KV." + streams.BucketStatus + "." + streams.StatusKey("chat-handler", "x"),
		"$JS.API.DIRECT.GET.KV_" + streams.BucketStatus + ".$KV." + streams.BucketStatus + ".x",
	}
	for _, kind := range []string{streams.ResultKindChat, streams.ResultKindVoice, streams.ResultKindSTT, streams.ResultKindTTS, streams.ResultKindPipeline} {
		publishes = append(publishes, streams.ResultSubject(kind, "x"))
	}
	for _, d := range env.set.Consumers() {
		publishes = append(publishes,
			"$JS.API.CONSUMER.MSG.NEXT."+d.Stream+"."+d.Config.Durable,
			"$JS.ACK."+d.Stream+"."+d.Config.Durable+".1.1.1.1.0",
			"$JS.API.CONSUMER.DELETE."+d.Stream+"."+d.Config.Durable,
			"$JS.API.CONSUMER.CREATE."+d.Stream+"."+d.Config.Durable)
	}
	for _, b := range []string{streams.BucketVoiceSessions, streams.BucketPipelineRuns} {
		publishes = append(publishes, "$KV."+b+".x", "$JS.API.DIRECT.GET.KV_"+b+".$KV."+b+".x", "$JS.API.STREAM.INFO.KV_"+b)
	}
	for _, subject := range publishes {
		if err := c.nc.Publish(subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := c.violation("publish", subject); err != nil {
			t.Error(err)
		}
	}
	for _, subject := range []string{
		">", "ai.>", "ai.chat.>", streams.SubjectChatRequest, streams.SubjectSTTAudioAll, streams.SubjectTTSVoices,
		"$JS.API.>", "$KV.>", "$KV." + streams.BucketVoiceSessions + ".>", "$JS.EVENT.>", "$SRV.>",
	} {
		if _, err := c.nc.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		if err := c.violation("subscription", subject); err != nil {
			t.Error(err)
		}
	}
}
