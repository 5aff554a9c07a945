package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nkeys"

	"github.com/jetflow-dev/jetflow/internal/breaker"
	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/stage"
	"github.com/jetflow-dev/jetflow/internal/worker"
	"github.com/jetflow-dev/jetflow/streams"
)

func TestNATSConfigProductionSettings(t *testing.T) {
	opts, _ := loadNATSConfig(t)
	set := loadStreams(t)
	if !opts.JetStream {
		t.Error("jetstream is not enabled")
	}
	if !opts.SyncAlways {
		t.Error("jetstream sync_interval is not always: acknowledged writes may not be on disk")
	}
	if opts.HTTPPort != 8222 {
		t.Errorf("monitoring port %d, want 8222 (KEDA reads /jsz there)", opts.HTTPPort)
	}
	if opts.StoreDir == "" {
		t.Error("no jetstream store_dir")
	}
	// max_payload is the max_msg_size of the stage streams: publishers size by the payload
	// limit, so a larger one lets them produce messages a stream rejects.
	for _, s := range set.Streams() {
		if s.Name == streams.StreamDeadLetter || s.Name == streams.StreamAdvisories {
			continue
		}
		if s.MaxMsgSize != opts.MaxPayload {
			t.Errorf("max_payload %d differs from %s max_msg_size %d", opts.MaxPayload, s.Name, s.MaxMsgSize)
		}
	}
	if len(opts.Routes) != 3 || opts.Cluster.Name == "" {
		t.Errorf("cluster %q with %d routes, want a named three-node cluster", opts.Cluster.Name, len(opts.Routes))
	}
	if opts.ServerName != "nats-test-0" {
		t.Errorf("server_name %q does not come from SERVER_NAME", opts.ServerName)
	}
	for _, u := range opts.Nkeys {
		if u.Account == nil || u.Account.Name != kedaAccount {
			t.Errorf("user %s is not in account %s, where the streams are", u.Nkey, kedaAccount)
		}
	}
	if len(opts.Users) > 0 {
		t.Errorf("%d password users: every user authenticates with an nkey", len(opts.Users))
	}
}

// TestNATSPermissionsNameExistingResources checks every stream, consumer and bucket a
// permission names against streams/, so a rename there cannot leave a worker locked out (or a
// stale grant) unnoticed.
func TestNATSPermissionsNameExistingResources(t *testing.T) {
	opts, keys := loadNATSConfig(t)
	set := loadStreams(t)
	users := usersByKey(t, opts, keys)
	if len(users) != len(natsUsers()) {
		t.Fatalf("config has %d nkey users, want %d (%v)", len(users), len(natsUsers()), natsUsers())
	}
	for user, perms := range users {
		if user == userAdmin {
			continue
		}
		if perms == nil || perms.Publish == nil || perms.Subscribe == nil {
			t.Errorf("%s: no publish or subscribe permissions: it could do anything", user)
			continue
		}
		if len(perms.Publish.Allow) == 0 || slices.Contains(perms.Publish.Allow, ">") {
			t.Errorf("%s: publish is not an allow-list", user)
		}
		for _, s := range perms.Publish.Allow {
			if err := checkSubjectNames(set, s); err != nil {
				t.Errorf("%s: %q: %v", user, s, err)
			}
		}
	}
}

// usersByKey maps the config's nkey users back to their names through the test's keys.
func usersByKey(t *testing.T, opts *server.Options, keys map[string]nkeys.KeyPair) map[string]*server.Permissions {
	t.Helper()
	names := make(map[string]string, len(keys))
	for user, kp := range keys {
		pub, err := kp.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		names[pub] = user
	}
	out := make(map[string]*server.Permissions, len(opts.Nkeys))
	for _, u := range opts.Nkeys {
		user, ok := names[u.Nkey]
		if !ok {
			t.Errorf("config has an nkey user %s no test key belongs to", u.Nkey)
			continue
		}
		out[user] = u.Permissions
	}
	return out
}

// checkSubjectNames checks the stream, consumer and bucket names in a JetStream API, ack or KV
// subject.
func checkSubjectNames(set *streams.Set, subject string) error {
	tok := strings.Split(subject, ".")
	stream := func(name string) error {
		if name == "*" || name == ">" {
			return nil
		}
		if b, ok := strings.CutPrefix(name, "KV_"); ok {
			if _, ok := set.Bucket(b); !ok {
				return fmt.Errorf("no bucket %s in streams/", b)
			}
			return nil
		}
		if _, ok := set.Stream(name); !ok {
			return fmt.Errorf("no stream %s in streams/", name)
		}
		return nil
	}
	consumer := func(s, c string) error {
		if err := stream(s); err != nil {
			return err
		}
		if c == "*" || c == ">" {
			return nil
		}
		got, _, ok := set.Consumer(c)
		if !ok || got != s {
			return fmt.Errorf("no consumer %s on stream %s in streams/", c, s)
		}
		return nil
	}
	switch {
	case strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT.") && len(tok) >= 7: // .<stream>.<consumer>
		return consumer(tok[5], tok[6])
	case strings.HasPrefix(subject, "$JS.API.CONSUMER.") && len(tok) >= 6: // .<op>.<stream>.<consumer>
		return consumer(tok[4], tok[5])
	case strings.HasPrefix(subject, "$JS.API.STREAM.MSG.") && len(tok) >= 6:
		return stream(tok[5])
	case strings.HasPrefix(subject, "$JS.API.STREAM.") && len(tok) >= 5:
		return stream(tok[4])
	case strings.HasPrefix(subject, "$JS.API.DIRECT.GET.") && len(tok) >= 5:
		return stream(tok[4])
	case strings.HasPrefix(subject, "$JS.ACK.") && len(tok) >= 4:
		return consumer(tok[2], tok[3])
	case strings.HasPrefix(subject, "$JS.FC.") && len(tok) >= 3: // flow control of push consumers
		return stream(tok[2])
	case strings.HasPrefix(subject, "$KV.") && len(tok) >= 2:
		return stream("KV_" + tok[1])
	case subject == "$JS.API.STREAM.NAMES": // names only, to find a subject's stream
		return nil
	case strings.HasPrefix(subject, "$JS."):
		return errors.New("unexpected JetStream subject")
	}
	return nil
}

func TestCheckSubjectNames(t *testing.T) {
	set := loadStreams(t)
	tests := []struct {
		subject string
		wantErr bool
	}{
		{"$JS.API.CONSUMER.MSG.NEXT.AI_CHAT.chat-retrieve", false},
		{"$JS.API.CONSUMER.INFO.AI_CHAT.chat-retrieve", false},
		{"$JS.API.CONSUMER.MSG.NEXT.AI_CHAT.tts", true},
		{"$JS.API.CONSUMER.INFO.AI_TTS.nothing", true},
		// Too short to name a consumer: reported, not a panic.
		{"$JS.API.CONSUMER.MSG.NEXT.AI_CHAT", true},
		{"$JS.API.STREAM.INFO.AI_RESULTS", false},
		{"$JS.API.STREAM.INFO.AI_NOTHING", true},
		{"$KV.stt-sessions.>", false},
		{"$KV.nothing.>", true},
		{"ai.chat.request", false},
	}
	for _, tt := range tests {
		if err := checkSubjectNames(set, tt.subject); (err != nil) != tt.wantErr {
			t.Errorf("checkSubjectNames(%q) = %v, want an error: %v", tt.subject, err, tt.wantErr)
		}
	}
}

// TestWorkerPermissionsAllowTheJob runs, as each worker's user, everything the worker does on a
// real server started from deploy/nats: fetch, extend and ack from each of its consumers,
// publish its results, hand-offs, dead letters and live tokens, use its KV bucket, read
// chunks back, answer its request-reply service, and run the real dead-letter advisory
// catcher of the stage runtime on advisories about other workers' stages. The server must
// refuse none of it.
func TestWorkerPermissionsAllowTheJob(t *testing.T) {
	env := startNATS(t)
	for _, w := range Workers() {
		t.Run(w.Name, func(t *testing.T) {
			ctx := stepContext(t)
			c := env.connect(t, w.Name)
			for _, name := range append(slices.Clone(w.Consumers), AdvisoryConsumer) {
				env.consumeOne(ctx, t, c, name)
			}
			for _, subject := range w.outputs() {
				if _, err := c.js.Publish(ctx, subject, []byte("out")); err != nil {
					t.Errorf("publishing %s: %v", subject, err)
				}
			}
			if w.TokenStream {
				env.tokenStream(t, c)
			}
			for _, b := range w.Buckets {
				useBucket(ctx, t, c, b)
			}
			for _, b := range w.Watches {
				env.watchBucket(ctx, t, c, b)
			}
			for _, s := range w.ReadsBack {
				env.readBack(ctx, t, c, s)
			}
			if w.ReadsResults {
				env.readResult(ctx, t, c, w)
			}
			for _, subject := range w.Services {
				env.answer(t, c, subject)
			}
			env.catchAdvisories(ctx, t, c, w)
			env.publishStatus(ctx, t, c, w)
			c.noErrors(t)
		})
	}
}

// stepContext bounds one subtest, so that a refused request fails it in seconds instead of
// using up the whole test's time.
func stepContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(jstest.Context(t), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// outputs are the JetStream subjects a worker publishes to, with sample ids.
func (w Worker) outputs() []string {
	out := []string{streams.ResultSubject(w.ResultKind, "perm-test")}
	out = append(out, w.Handoffs...)
	for _, c := range w.Consumers {
		out = append(out, streams.DeadLetterSubject(c))
	}
	return out
}

func (e *natsEnv) consumeOne(ctx context.Context, t *testing.T, c *userConn, name string) {
	t.Helper()
	stream, cfg, ok := e.set.Consumer(name)
	if !ok {
		t.Fatalf("no consumer %s in streams/", name)
	}
	e.publish(ctx, t, subjectFor(cfg.FilterSubject, "perm-test"), []byte("in"))
	cons, err := c.js.Consumer(ctx, stream, name)
	if err != nil {
		t.Fatalf("looking up consumer %s: %v", name, err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetching from %s: %v", name, err)
	}
	n := 0
	for msg := range batch.Messages() {
		n++
		if err := msg.InProgress(); err != nil {
			t.Errorf("extending a message of %s: %v", name, err)
		}
		if err := msg.DoubleAck(ctx); err != nil {
			t.Errorf("acking a message of %s: %v", name, err)
		}
	}
	if err := batch.Error(); err != nil || n != 1 {
		t.Errorf("fetched %d messages from %s (error %v), want 1", n, name, err)
	}
}

// tokenStream publishes a live token on core NATS and checks that the admin receives it.
func (e *natsEnv) tokenStream(t *testing.T, c *userConn) {
	t.Helper()
	subject := streams.TokenStreamSubject("perm-test")
	sub, err := e.nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Publish(subject, []byte("token")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Errorf("token on %s did not arrive: %v", subject, err)
	}
}

func useBucket(ctx context.Context, t *testing.T, c *userConn, bucket string) {
	t.Helper()
	kv, err := c.js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatalf("opening bucket %s: %v", bucket, err)
	}
	rev, err := kv.Create(ctx, "perm-test", []byte("1"))
	if err != nil {
		t.Fatalf("creating a key in %s: %v", bucket, err)
	}
	if _, err := kv.Update(ctx, "perm-test", []byte("2"), rev); err != nil {
		t.Errorf("updating a key in %s by revision: %v", bucket, err)
	}
	e, err := kv.Get(ctx, "perm-test")
	if err != nil || string(e.Value()) != "2" {
		t.Errorf("reading a key of %s: %v", bucket, err)
	}
	if err := kv.Delete(ctx, "perm-test"); err != nil {
		t.Errorf("deleting a key of %s: %v", bucket, err)
	}
}

// watchBucket watches a bucket as the worker and sees the admin's update.
func (e *natsEnv) watchBucket(ctx context.Context, t *testing.T, c *userConn, bucket string) {
	t.Helper()
	kv, err := c.js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatalf("opening bucket %s: %v", bucket, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatalf("watching bucket %s: %v", bucket, err)
	}
	admin, err := e.admin.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Put(ctx, "watched", []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-w.Updates():
		if u == nil || u.Key() != "watched" {
			t.Errorf("watch of %s gave %v, want the update of key watched", bucket, u)
		}
	case <-ctx.Done():
		t.Errorf("watch of %s saw no update", bucket)
	}
	if err := w.Stop(); err != nil {
		t.Errorf("stopping the watch of %s: %v", bucket, err)
	}
}

// readBack reads a message of stream by sequence and by subject, as stt reads its chunks.
func (e *natsEnv) readBack(ctx context.Context, t *testing.T, c *userConn, name string) {
	t.Helper()
	cfg, _ := e.set.Stream(name)
	subject := subjectFor(cfg.Subjects[0], "readback")
	seq := e.publish(ctx, t, subject, []byte("chunk"))
	s, err := c.js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("looking up stream %s: %v", name, err)
	}
	if m, err := s.GetMsg(ctx, seq); err != nil || string(m.Data) != "chunk" {
		t.Errorf("reading %s seq %d: %v", name, seq, err)
	}
	if _, err := s.GetLastMsgForSubject(ctx, subject); err != nil {
		t.Errorf("reading the last message of %s: %v", subject, err)
	}
}

// readResult reads the last result on one of the worker's result subjects.
func (e *natsEnv) readResult(ctx context.Context, t *testing.T, c *userConn, w Worker) {
	t.Helper()
	subject := streams.ResultSubject(w.ResultKind, "read-back")
	e.publish(ctx, t, subject, []byte("result"))
	s, err := c.js.Stream(ctx, streams.StreamResults)
	if err != nil {
		t.Fatalf("looking up %s: %v", streams.StreamResults, err)
	}
	if m, err := s.GetLastMsgForSubject(ctx, subject); err != nil || string(m.Data) != "result" {
		t.Errorf("reading the last result on %s: %v", subject, err)
	}
}

// answer serves subject as a NATS micro endpoint and has the gateway call it.
func (e *natsEnv) answer(t *testing.T, c *userConn, subject string) {
	t.Helper()
	svc, err := micro.AddService(c.nc, micro.Config{
		Name:    "tts",
		Version: "1.0.0",
		Endpoint: &micro.EndpointConfig{
			Subject: subject,
			Handler: micro.HandlerFunc(func(r micro.Request) { _ = r.Respond([]byte(`{"voices":[]}`)) }),
		},
	})
	if err != nil {
		t.Fatalf("serving %s: %v", subject, err)
	}
	defer func() { _ = svc.Stop() }()
	gw := e.connect(t, userGateway)
	if _, err := gw.nc.Request(subject, nil, 5*time.Second); err != nil {
		t.Errorf("requesting %s as %s: %v", subject, userGateway, err)
	}
	if _, err := e.nc.Request("$SRV.PING.tts", nil, 5*time.Second); err != nil {
		t.Errorf("pinging the service: %v", err)
	}
	gw.noErrors(t)
}

// catchAdvisories hands the runtime's advisory catcher, running as the worker, two
// max-deliveries advisories about stages of other workers: one in a work-queue stream (read,
// dead-letter, remove) and one in AI_STT (read directly, keep).
func (e *natsEnv) catchAdvisories(ctx context.Context, t *testing.T, c *userConn, w Worker) {
	t.Helper()
	foreign := streams.ConsumerTTS
	if w.Name == "tts-module" {
		foreign = streams.ConsumerPipelineBridge
	}
	catcher := stage.AdvisoryCatcher{JS: c.js}
	for _, name := range []string{foreign, streams.ConsumerSTT} {
		stream, cfg, _ := e.set.Consumer(name)
		seq := e.publish(ctx, t, subjectFor(cfg.FilterSubject, "advisory-"+w.Name), []byte("poison"))
		adv, err := json.Marshal(stage.MaxDeliveriesAdvisory{
			Type: "io.nats.jetstream.advisory.v1.max_deliver", ID: "perm-test", Timestamp: time.Now(),
			Stream: stream, Consumer: name, StreamSeq: seq, Deliveries: 5,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := catcher.Handle(ctx, &stage.Input{Subject: streams.AdvisoryMaxDeliveriesSubject(stream, name), Data: adv}); err != nil {
			t.Errorf("catching the advisory of %s seq %d: %v", name, seq, err)
			continue
		}
		dlq, err := e.admin.Stream(ctx, streams.StreamDeadLetter)
		if err != nil {
			t.Fatal(err)
		}
		m, err := dlq.GetLastMsgForSubject(ctx, streams.DeadLetterSubject(name))
		if err != nil || string(m.Data) != "poison" {
			t.Errorf("no dead letter of %s seq %d: %v", name, seq, err)
		}
		src, err := e.admin.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.GetMsg(ctx, seq)
		removed := errors.Is(err, jetstream.ErrMsgNotFound)
		if wq := src.CachedInfo().Config.Retention == jetstream.WorkQueuePolicy; removed != wq {
			t.Errorf("%s seq %d removed=%v (error %v), want %v", stream, seq, removed, err, wq)
		}
	}
}

// pipelineRunsBucket is pipeline-bridge's KV bucket of KFP run-name claims, in its
// Worker.Buckets (workers.go) like the session buckets; this test adds the claim's own steps.
const pipelineRunsBucket = streams.BucketPipelineRuns

// TestPipelineBridgeClaimsRunNames: pipeline-bridge creates, updates by revision, reads and
// deletes keys of its bucket as its run-name claims do; no other worker may touch it.
func TestPipelineBridgeClaimsRunNames(t *testing.T) {
	env := startNATS(t)
	if _, ok := env.set.Bucket(pipelineRunsBucket); !ok {
		t.Fatalf("streams/ defines no bucket %s", pipelineRunsBucket)
	}
	c := env.connect(t, "pipeline-bridge")
	useBucket(stepContext(t), t, c, pipelineRunsBucket)
	c.noErrors(t)
	for _, w := range Workers() {
		if w.Name == "pipeline-bridge" {
			continue
		}
		t.Run(w.Name, func(t *testing.T) {
			oc := env.connect(t, w.Name)
			for _, subject := range []string{
				"$KV." + pipelineRunsBucket + ".x",
				"$JS.API.DIRECT.GET.KV_" + pipelineRunsBucket + ".$KV." + pipelineRunsBucket + ".x",
			} {
				if err := oc.nc.Publish(subject, []byte("x")); err != nil {
					t.Fatal(err)
				}
				if err := oc.violation("publish", subject); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// publishStatus runs the shell's status publisher as the worker: its entry appears in the status
// bucket under the worker's name, and is deleted when the publisher stops.
func (e *natsEnv) publishStatus(ctx context.Context, t *testing.T, c *userConn, w Worker) {
	t.Helper()
	specs := make([]worker.StageSpec, 0, len(w.Consumers))
	for _, name := range w.Consumers {
		specs = append(specs, worker.StageSpec{Consumer: name, Breakers: breaker.NewSet(name, breaker.Settings{})})
	}
	pub := worker.NewStatusPublisher(c.js, worker.StatusConfig{Worker: w.Name, Replica: "perm-test"}, specs...)
	stop := jstest.Run(t, ctx, pub.Run)
	kv, err := e.admin.KeyValue(ctx, streams.BucketStatus)
	if err != nil {
		t.Fatalf("opening bucket %s: %v", streams.BucketStatus, err)
	}
	jstest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, err := kv.Get(ctx, streams.StatusKey(w.Name, "perm-test"))
		return err
	})
	if err := stop(); err != nil {
		t.Errorf("status publisher: %v", err)
	}
	if _, err := kv.Get(ctx, streams.StatusKey(w.Name, "perm-test")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("status of %s after the publisher stopped: %v, want it deleted", w.Name, err)
	}
}

// TestWorkerPermissionsRefuseTheRest has each worker's user try what belongs to other workers
// or to operators: publishing their inputs, results and hand-offs, pulling from their
// consumers, touching their buckets, administering streams and consumers, and subscribing to
// traffic it does not own. The server must refuse every one.
func TestWorkerPermissionsRefuseTheRest(t *testing.T) {
	env := startNATS(t)
	ctx := jstest.Context(t)
	for _, w := range Workers() {
		t.Run(w.Name, func(t *testing.T) {
			c := env.connect(t, w.Name)
			for _, subject := range forbiddenPublishes(env.set, w) {
				if err := c.nc.Publish(subject, []byte("x")); err != nil {
					t.Fatal(err)
				}
				if err := c.violation("publish", subject); err != nil {
					t.Error(err)
				}
			}
			for _, subject := range []string{">", "ai.>", "ai.chat.>", streams.SubjectResultAll, "$JS.API.>"} {
				if _, err := c.nc.SubscribeSync(subject); err != nil {
					t.Fatal(err)
				}
				if err := c.violation("subscription", subject); err != nil {
					t.Error(err)
				}
			}
		})
	}
	t.Run("a refused publish is not stored", func(t *testing.T) {
		c := env.connect(t, "tts-module")
		before := streamMsgs(ctx, t, env, streams.StreamPipeline)
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if _, err := c.js.Publish(pctx, streams.SubjectPipelineTrigger, []byte(`{}`)); err == nil {
			t.Error("tts-module published a pipeline trigger")
		}
		if err := c.violation("publish", streams.SubjectPipelineTrigger); err != nil {
			t.Error(err)
		}
		if after := streamMsgs(ctx, t, env, streams.StreamPipeline); after != before {
			t.Errorf("%s went from %d to %d messages", streams.StreamPipeline, before, after)
		}
	})
}

// streamMsgs counts the messages of a stream, from the info the lookup fetched.
func streamMsgs(ctx context.Context, t *testing.T, env *natsEnv, name string) uint64 {
	t.Helper()
	s, err := env.admin.Stream(ctx, name)
	if err != nil {
		t.Fatalf("reading stream %s: %v", name, err)
	}
	return s.CachedInfo().State.Msgs
}

// forbiddenPublishes lists what w must not publish: every request subject, what other workers
// publish and consume, other buckets, and the JetStream administration API (also for its own
// streams and consumers: streams/ is applied by operators, never by workers).
func forbiddenPublishes(set *streams.Set, w Worker) []string {
	out := []string{
		streams.SubjectChatRequest, streams.SubjectVoiceRequest, streams.SubjectTTSRequest,
		streams.SubjectPipelineTrigger, streams.STTAudioSubject("s1"),
		"$JS.API.STREAM.CREATE.AI_EVIL", "$JS.API.STREAM.DELETE.AI_DLQ", "$JS.API.STREAM.PURGE.AI_RESULTS",
		"$JS.API.STREAM.UPDATE.AI_DLQ", "$JS.API.STREAM.MSG.DELETE.AI_DLQ", "$JS.API.STREAM.MSG.DELETE.AI_RESULTS",
		"$JS.API.STREAM.MSG.GET.AI_DLQ", "$JS.API.DIRECT.GET.AI_RESULTS",
		"$JS.API.CONSUMER.CREATE.AI_RESULTS.spy", "$JS.API.ACCOUNT.PURGE.JETFLOW",
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.AI_CHAT.chat-retrieve",
		// status keys outside the worker's own name, and reading the platform's status
		"$KV." + streams.BucketStatus + ".x", "$JS.API.DIRECT.GET.KV_" + streams.BucketStatus + ".$KV." + streams.BucketStatus + ".x",
		"$JS.API.CONSUMER.CREATE.KV_" + streams.BucketStatus + ".x.$KV." + streams.BucketStatus + ".>",
	}
	for _, c := range w.Consumers {
		stream, _, _ := set.Consumer(c)
		out = append(out, "$JS.API.CONSUMER.DELETE."+stream+"."+c, "$JS.API.CONSUMER.CREATE."+stream+"."+c)
	}
	for _, b := range w.Buckets {
		if !slices.Contains(w.Watches, b) {
			out = append(out, "$JS.API.CONSUMER.CREATE.KV_"+b+".x.$KV."+b+".>")
		}
	}
	for _, o := range Workers() {
		if o.Name == w.Name {
			continue
		}
		out = append(out, streams.ResultSubject(o.ResultKind, "x"),
			"$JS.API.DIRECT.GET.AI_RESULTS."+streams.ResultSubject(o.ResultKind, "x"),
			"$KV."+streams.BucketStatus+"."+streams.StatusKey(o.Name, "x"))
		for _, h := range o.Handoffs {
			if !slices.Contains(w.Handoffs, h) {
				out = append(out, h)
			}
		}
		for _, c := range o.Consumers {
			stream, _, _ := set.Consumer(c)
			out = append(out, "$JS.API.CONSUMER.MSG.NEXT."+stream+"."+c, "$JS.ACK."+stream+"."+c+".1.1.1.1.0")
		}
		for _, b := range o.Buckets {
			out = append(out, "$JS.API.CONSUMER.CREATE.KV_"+b+".x.$KV."+b+".>")
			out = append(out, "$KV."+b+".x", "$JS.API.DIRECT.GET.KV_"+b+".$KV."+b+".x")
		}
		if !w.TokenStream && o.TokenStream {
			out = append(out, streams.TokenStreamSubject("x"))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
