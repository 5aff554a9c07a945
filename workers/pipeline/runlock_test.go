package pipeline

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// Two pipeline-bridge replicas handle one trigger at the same moment (it was published twice,
// past the duplicate window): both list the runs before either creates one, so both see none.
// The run-name claim lets one create the run; the other waits for its id and follows the same
// run. One run, and both report it to its end.
func TestKFPReplicasRacingOnOneTriggerCreateOneRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "RUNNING", "SUCCEEDED")
	bothListed := newBarrier(2)
	f.beforeList = func() { bothListed.wait(10 * time.Second) }
	replicas := []*Bridge{newKFPBridge(h, f), newKFPBridge(h, f)}
	for _, b := range replicas {
		h.start(b)
	}
	h.publish(evalTrigger("req-race"), "first copy")
	h.publish(evalTrigger("req-race"), "second copy")
	sts := h.waitFinals("req-race", 2)
	h.waitAcked()
	if !bothListed.passed() {
		t.Fatal("the two deliveries never listed at the same time: no race was run")
	}
	finals := 0
	for _, st := range sts {
		if st.GetRunName() != RunName("nightly-eval", "req-race") {
			t.Errorf("status for run %s", st.GetRunName())
		}
		if st.GetPhase() == jetflowv1.PipelineStatus_PHASE_SUCCEEDED {
			finals++
		}
	}
	if finals != 2 {
		t.Errorf("%d statuses say SUCCEEDED, want one per trigger", finals)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.posts != 1 || len(f.runs) != 1 {
		t.Fatalf("posts=%d runs=%d, want one run created once", f.posts, len(f.runs))
	}
	// Both followed the one run: the fake answers a get of any other id with 404.
	if run := f.runs["run-1"]; run == nil || run.gets < 2 {
		t.Errorf("run-1 read %v times, want by both deliveries", run)
	}
	entry := h.lockEntry(RunName("nightly-eval", "req-race"))
	if entry.RunID != "run-1" || entry.RequestID != "req-race" {
		t.Errorf("lock entry %+v, want run-1 for req-race", entry)
	}
}

// A replica claimed the name and died before creating the run: once the claim's lease is over,
// the next delivery finds no run in KFP, takes the claim over and creates it.
func TestKFPStaleClaimIsTakenOver(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "SUCCEEDED")
	name := RunName("nightly-eval", "req-stale")
	if _, err := h.runLocks().Create(h.ctx, name, []byte(`{"request_id":"req-stale"}`)); err != nil {
		t.Fatal(err)
	}
	claimed := time.Now()
	h.start(newKFPBridge(h, f))
	h.publish(evalTrigger("req-stale"), "")
	sts := h.waitFinals("req-stale", 1)
	if last := sts[len(sts)-1]; last.GetPhase() != jetflowv1.PipelineStatus_PHASE_SUCCEEDED {
		t.Errorf("final = %v", last)
	}
	// testSettings' call timeout is 2s: the lease is 4s.
	if waited := time.Since(claimed); waited < 4*time.Second {
		t.Errorf("run created %v after the claim, before its lease was over", waited)
	}
	f.mu.Lock()
	posts := f.posts
	f.mu.Unlock()
	if posts != 1 {
		t.Errorf("posts=%d, want 1", posts)
	}
	if entry := h.lockEntry(name); entry.RunID != "run-1" {
		t.Errorf("lock entry %+v, want run-1 recorded", entry)
	}
}

// A claim made for another request id under the same run name is a name collision, as a run
// with another request's description is: dead-lettered, nothing created.
func TestKFPClaimOfAnotherRequestIsACollision(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "SUCCEEDED")
	name := RunName("nightly-eval", "req-mine")
	if _, err := h.runLocks().Create(h.ctx, name, []byte(`{"request_id":"req-theirs","run_id":"run-x"}`)); err != nil {
		t.Fatal(err)
	}
	h.start(newKFPBridge(h, f))
	h.publish(evalTrigger("req-mine"), "")
	dl := h.waitDeadLetters(1)[0]
	if reason := dl.Header.Get(stage.HeaderError); !strings.Contains(reason, `claimed in pipeline-runs for request "req-theirs"`) {
		t.Errorf("%s = %q", stage.HeaderError, reason)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.posts != 0 {
		t.Errorf("posts=%d, want none", f.posts)
	}
}

// A create KFP refused releases the claim: the trigger is dead-lettered, and a replay of it
// (after the operator fixed the pipeline) need not wait for the lease.
func TestKFPRefusedCreateReleasesTheClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFakeKFP(t, "SUCCEEDED")
	f.createStatus = []int{400}
	h.start(newKFPBridge(h, f))
	h.publish(evalTrigger("req-refused"), "")
	h.waitDeadLetters(1)
	if _, err := h.runLocks().Get(h.ctx, RunName("nightly-eval", "req-refused")); err == nil {
		t.Fatal("the claim is still held after KFP refused the create")
	}
	start := time.Now()
	h.publish(evalTrigger("req-refused"), "replay")
	h.waitFinals("req-refused", 1)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the replay took %v, as if it waited for a lease", d)
	}
}

func (h *harness) lockEntry(name string) runLockEntry {
	h.t.Helper()
	e, err := h.runLocks().Get(h.ctx, name)
	if err != nil {
		h.t.Fatalf("reading the lock of %s: %v", name, err)
	}
	var v runLockEntry
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		h.t.Fatalf("decoding the lock of %s: %v", name, err)
	}
	return v
}

// barrier holds the first n callers of wait until all n have arrived (or timeout passes);
// later callers pass at once.
type barrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) wait(timeout time.Duration) {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.all:
	case <-t.C:
	}
}

func (b *barrier) passed() bool {
	select {
	case <-b.all:
		return true
	default:
		return false
	}
}
