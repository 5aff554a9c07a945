package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
)

// jsz is the part of the monitoring endpoint's /jsz answer KEDA's nats-jetstream scaler
// decodes (kedacore/keda pkg/scalers/nats_jetstream_scaler.go, jetStreamEndpointResponse).
type jsz struct {
	Accounts []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Streams []struct {
			Name      string `json:"name"`
			Consumers []struct {
				Name          string `json:"name"`
				NumPending    int    `json:"num_pending"`
				NumAckPending int    `json:"num_ack_pending"`
			} `json:"consumer_detail"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// kedaLag reads a trigger's lag the way KEDA does: GET /jsz?acc=<account>&consumers=true&
// config=true on the trigger's endpoint (here the test server's), find the account by id or
// name, the stream, the consumer, and add num_pending and num_ack_pending.
func kedaLag(ctx context.Context, monitorHost string, md map[string]string) (lag, ackPending int, err error) {
	q := url.Values{}
	q.Set("acc", md["account"])
	q.Set("consumers", "true")
	q.Set("config", "true")
	u := url.URL{Scheme: "http", Host: monitorHost, Path: "/jsz", RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var body jsz
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, 0, fmt.Errorf("decoding %s: %w", u.String(), err)
	}
	for _, a := range body.Accounts {
		if a.ID != md["account"] && a.Name != md["account"] {
			continue
		}
		for _, s := range a.Streams {
			if s.Name != md["stream"] {
				continue
			}
			for _, c := range s.Consumers {
				if c.Name == md["consumer"] {
					return c.NumPending + c.NumAckPending, c.NumAckPending, nil
				}
			}
		}
	}
	return 0, 0, fmt.Errorf("consumer %s of stream %s in account %s not in /jsz", md["consumer"], md["stream"], md["account"])
}

// TestKEDALagMatchesTheTriggers publishes work for every consumer a ScaledObject triggers on,
// into a server started from deploy/nats, and reads the lag as KEDA would with the trigger's
// own account, stream and consumer: queued messages count, and so do fetched messages that
// are not acknowledged yet; acknowledged ones do not.
func TestKEDALagMatchesTheTriggers(t *testing.T) {
	env := startNATS(t)
	ctx := jstest.Context(t)
	host := env.srv.MonitorAddr().String()
	const published, fetched = 3, 2
	for _, so := range all[*kedav1alpha1.ScaledObject](manifestFiles(t, dirBase)) {
		for _, tr := range so.Spec.Triggers {
			if tr.Type != triggerLag {
				continue
			}
			md := tr.Metadata
			t.Run(so.Name+"/"+md["consumer"], func(t *testing.T) {
				stream, cfg, ok := env.set.Consumer(md["consumer"])
				if !ok || stream != md["stream"] {
					t.Fatalf("consumer %s of %s not in streams/", md["consumer"], md["stream"])
				}
				for i := range published {
					env.publish(ctx, t, subjectFor(cfg.FilterSubject, fmt.Sprintf("keda%d", i)), []byte("work"))
				}
				wantLag(ctx, t, host, md, published, 0)

				cons, err := env.admin.Consumer(ctx, stream, md["consumer"])
				if err != nil {
					t.Fatal(err)
				}
				batch, err := cons.Fetch(fetched, jetstream.FetchMaxWait(5*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				var msgs []jetstream.Msg
				for m := range batch.Messages() {
					msgs = append(msgs, m)
				}
				if len(msgs) != fetched {
					t.Fatalf("fetched %d, want %d", len(msgs), fetched)
				}
				wantLag(ctx, t, host, md, published, fetched)

				for _, m := range msgs {
					if err := m.DoubleAck(ctx); err != nil {
						t.Fatal(err)
					}
				}
				wantLag(ctx, t, host, md, published-fetched, 0)
			})
		}
	}
}

func wantLag(ctx context.Context, t *testing.T, host string, md map[string]string, lag, ackPending int) {
	t.Helper()
	jstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		gotLag, gotAck, err := kedaLag(ctx, host, md)
		if err != nil {
			return err
		}
		if gotLag != lag || gotAck != ackPending {
			return fmt.Errorf("lag %d with %d ack pending, want %d with %d", gotLag, gotAck, lag, ackPending)
		}
		return nil
	})
}
