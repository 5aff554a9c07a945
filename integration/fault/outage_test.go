package fault

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/devkit/jstest"
	"github.com/jetflow-dev/jetflow/internal/devkit/standin"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// llmRoute is the stand-in's LLM route, as its Stats name it.
const llmRoute = "POST /v1/chat/completions"

// 4. Model server outage: the LLM answers 503 for a while in the middle of a run of chat
// requests. The breakers open, the upstream calls during the outage stay bounded, nothing is
// dead-lettered because of the outage, and every request completes once after it.
func TestModelServerOutageOpensTheBreakerAndLosesNothing(t *testing.T) {
	ctx := Suite(t, 4*time.Minute)
	var (
		outage   = Scale(5*time.Second, 30*time.Second)
		before   = Scale(3*time.Second, 10*time.Second)
		after    = Scale(3*time.Second, 10*time.Second)
		rate     = Scale(10, 20) // requests per second
		replicas = 2
	)
	const (
		failuresToOpen = 5
		concurrency    = 4
	)
	breakerTimeout := Scale(2*time.Second, 5*time.Second)
	r := newRig(t, ctx, standin.Config{Delay: 20 * time.Millisecond}, nil)
	var chat []*Worker
	for range replicas {
		chat = append(chat, r.startWorker("chat-handler",
			"CHAT_BREAKER_FAILURES="+strconv.Itoa(failuresToOpen),
			"CHAT_BREAKER_TIMEOUT="+breakerTimeout.String(),
			"CHAT_GENERATE_CONCURRENCY="+strconv.Itoa(concurrency)))
	}

	// The producer publishes at a steady rate; the outage starts after `before` and lasts
	// `outage`, while it goes on publishing.
	total := int((before + outage + after).Seconds()) * rate
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	start := time.Now()
	var outageStart, outageEnd time.Time
	for i := range total {
		<-tick.C
		if outageStart.IsZero() && time.Since(start) >= before {
			setOutage(t, r, outage)
			outageStart = time.Now()
			outageEnd = outageStart.Add(outage)
		}
		id := "outage-" + strconv.Itoa(i)
		r.publish(protoMsg(t, streams.SubjectChatRequest, &jetflowv1.ChatRequest{RequestId: id, Query: "What is JetStream?", DisableRag: true}, nil))
	}
	if wait := time.Until(outageEnd); wait > 0 {
		jstest.Eventually(t, wait+time.Second, 100*time.Millisecond, func() error {
			if time.Now().Before(outageEnd) {
				return fmt.Errorf("outage on for %v", time.Until(outageEnd))
			}
			return nil
		})
	}
	outageCalls := r.models.Stats().Injected[llmRoute]

	// Every request completes after the outage.
	jstest.Eventually(t, 3*time.Minute, 200*time.Millisecond, func() error {
		if n := len(r.counts(streams.StreamResults, "ai.result.chat.>")); n < total {
			return fmt.Errorf("%d of %d requests answered", n, total)
		}
		return nil
	})
	recovered := time.Since(outageEnd)
	r.settled(time.Minute, streams.StreamChat, streams.ConsumerChatRetrieve, streams.ConsumerChatGenerate)

	lost, duplicated := auditResults(t, r, streams.ResultKindChat, "outage-", total)
	dead := r.deadLetters()
	for _, m := range dead {
		t.Errorf("dead letter at %s: %s", m.Subject(), m.Headers().Get("Jetflow-Error"))
	}
	opened := 0
	for _, w := range chat {
		opened += strings.Count(w.Output(), `"to":"open"`)
	}
	if opened == 0 {
		t.Errorf("no breaker opened during a %v outage", outage)
	}
	// Each replica's breaker lets through the calls that opened it (the failures in a row, and
	// those already on their way), then one probe per open interval.
	probes := int(outage/breakerTimeout) + 1
	bound := replicas * (failuresToOpen + concurrency + probes)
	if outageCalls > int64(bound) {
		t.Errorf("%d LLM calls during the %v outage, want at most %d (%d replicas × (%d failures to open + %d in flight + %d probes))",
			outageCalls, outage, bound, replicas, failuresToOpen, concurrency, probes)
	}
	Figures{
		Scenario: "4 model server outage", Load: total,
		Faults: fmt.Sprintf("the LLM answers 503 for %v", outage), Lost: lost, Duplicated: duplicated,
		DeadLettered: len(dead), UpstreamCalls: outageCalls, Recover: recovered, Duration: time.Since(start),
		Notes: fmt.Sprintf("chat at %d/s on %d chat-handler replicas; breakers opened %d times; LLM calls during the outage bounded by %d",
			rate, replicas, opened, bound),
	}.Report(t)
}

// setOutage makes every model route of the stand-in answer 503 for d, from now.
func setOutage(t *testing.T, r *rig, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.modelsURL+"/admin/outage?for="+d.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("starting the outage: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("starting the outage: %s", resp.Status)
	}
}

// auditResults counts, for the requests prefix0..prefix<n-1>, those without a result (lost) and
// the results beyond the first (duplicated).
func auditResults(t *testing.T, r *rig, kind, prefix string, n int) (lost, duplicated int) {
	t.Helper()
	counts := r.counts(streams.StreamResults, "ai.result."+kind+".>")
	for i := range n {
		switch c := counts[streams.ResultSubject(kind, prefix+strconv.Itoa(i))]; {
		case c == 0:
			lost++
		case c > 1:
			duplicated += int(c - 1)
		}
	}
	if lost > 0 || duplicated > 0 {
		t.Errorf("%d of %d requests lost, %d results duplicated", lost, n, duplicated)
	}
	return lost, duplicated
}
