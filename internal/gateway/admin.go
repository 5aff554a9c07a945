package gateway

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/jetflow-dev/jetflow/internal/operator/deadletters"
	"github.com/jetflow-dev/jetflow/internal/operator/stagestatus"
	"github.com/jetflow-dev/jetflow/internal/stage"
	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// adminService answers operators with what `jetflow status` and `jetflow dlq` read, through the
// same libraries, and replays dead letters with the same safe replay.
type adminService struct{ s *Server }

// defaultDeadLetterPage is ListDeadLettersRequest.limit's 0.
const defaultDeadLetterPage = 100

// errPageFull stops a read once the page is full.
var errPageFull = errors.New("page full")

func (a adminService) ListDeadLetters(ctx context.Context, req *jetflowv1.ListDeadLettersRequest) (*jetflowv1.ListDeadLettersResponse, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = defaultDeadLetterPage
	}
	sel := deadletters.Selection{}
	if start := req.GetStartSequence(); start > 0 {
		sel.Ranges = []deadletters.SeqRange{{From: start, To: math.MaxUint64}}
	}
	if req.GetStage() != "" {
		sel.Stages = []string{req.GetStage()}
	}
	stream, err := deadletters.Stream(ctx, a.s.cfg.JS)
	if err != nil {
		return nil, waitError(ctx, "reading dead letters", err)
	}
	resp := &jetflowv1.ListDeadLettersResponse{}
	err = deadletters.Read(ctx, a.s.cfg.JS, sel, func(l deadletters.Letter) error {
		if len(resp.DeadLetters) == limit {
			resp.NextSequence = l.Seq
			return errPageFull
		}
		// Read gives headers only; the page carries payloads.
		full, err := deadletters.GetFrom(ctx, stream, l.Seq)
		if err != nil {
			return err
		}
		resp.DeadLetters = append(resp.DeadLetters, storedDeadLetter(full))
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, waitError(ctx, "reading dead letters", err)
	}
	return resp, nil
}

// storedDeadLetter is l as AdminService reports it: the dead-letter headers as fields, the
// other headers (the original's own, less the server's Nats-* ones) as a map.
func storedDeadLetter(l deadletters.Letter) *jetflowv1.StoredDeadLetter {
	d := &jetflowv1.DeadLetter{
		Stage: l.Stage, Error: l.Reason, ErrorKind: l.Kind, OriginalSubject: l.OriginalSubject,
		Stream: l.OriginalStream, StreamSequence: l.OriginalSeq, Deliveries: l.Deliveries,
		FailedAt: timestamppb.New(l.FailedAt), Payload: l.Data, PayloadType: l.Header.Get(stage.HeaderType),
		Headers: map[string]string{},
	}
	for k, vs := range l.Header {
		if strings.HasPrefix(strings.ToLower(k), "nats-") || fieldHeaders[k] {
			continue
		}
		d.Headers[k] = strings.Join(vs, ", ")
	}
	return &jetflowv1.StoredDeadLetter{Sequence: l.Seq, Subject: l.Subject, StoredAt: timestamppb.New(l.Stored), DeadLetter: d}
}

// fieldHeaders are the dead-letter headers DeadLetter has fields for.
var fieldHeaders = map[string]bool{
	stage.HeaderStage: true, stage.HeaderError: true, stage.HeaderErrorKind: true,
	stage.HeaderOriginalSubject: true, stage.HeaderOriginalStream: true, stage.HeaderStreamSeq: true,
	stage.HeaderDeliveries: true, stage.HeaderFailedAt: true,
}

// ReplayDeadLetters replays each chosen letter once, in request order, as `jetflow dlq replay
// SEQ...` does without --again.
func (a adminService) ReplayDeadLetters(ctx context.Context, req *jetflowv1.ReplayDeadLettersRequest) (*jetflowv1.ReplayDeadLettersResponse, error) {
	recs, err := deadletters.OpenRecords(ctx, a.s.cfg.JS)
	if err != nil {
		return nil, waitError(ctx, "opening the replay records", err)
	}
	known, err := recs.All(ctx)
	if err != nil {
		return nil, waitError(ctx, "reading the replay records", err)
	}
	r := &deadletters.Replayer{JS: a.s.cfg.JS, Records: recs, Known: known}
	resp := &jetflowv1.ReplayDeadLettersResponse{}
	for _, seq := range req.GetSequences() {
		resp.Results = append(resp.Results, a.replayOne(ctx, r, seq))
	}
	return resp, nil
}

func (a adminService) replayOne(ctx context.Context, r *deadletters.Replayer, seq uint64) *jetflowv1.ReplayResult {
	res := &jetflowv1.ReplayResult{Sequence: seq}
	l, err := deadletters.Get(ctx, a.s.cfg.JS, seq)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Subject = l.OriginalSubject
	job, err := r.Decide(ctx, l)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	rec, err := r.Publish(ctx, job)
	res.MsgId = rec.MsgID
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Replayed, res.Duplicate = true, rec.Duplicate
	return res
}

// definitions are the embedded stream definitions, parsed once: they cannot change while the
// process runs (internal/worker keeps them the same way).
var definitions = sync.OnceValues(streams.Load)

// Status is `jetflow status -o json`'s report, as rows.
func (a adminService) Status(ctx context.Context, _ *jetflowv1.StatusRequest) (*jetflowv1.StatusResponse, error) {
	set, err := definitions()
	if err != nil {
		return nil, waitError(ctx, "loading the stream definitions", err)
	}
	c := &stagestatus.Collector{JS: a.s.cfg.JS, Set: set, Window: stagestatus.DefaultWindow}
	r, err := c.Collect(ctx, time.Now())
	if err != nil {
		return nil, waitError(ctx, "reading the platform's status", err)
	}
	resp := &jetflowv1.StatusResponse{Healthy: r.Healthy, Problems: r.Problems, Warnings: r.Warnings, Time: timestamppb.New(r.Time)}
	for _, s := range r.Stages {
		row := &jetflowv1.StageStatus{
			Stage: s.Stage, Stream: s.Stream, Pending: s.Pending, AckPending: uint64(max(s.AckPending, 0)),
			Redelivered: uint64(max(s.Redelivered, 0)), Waiting: uint64(max(s.Waiting, 0)),
			DeadLetters: s.DeadLetters.Total, DeadLettersLastHour: s.DeadLetters.LastHour,
			Replicas: int32(min(s.Replicas, math.MaxInt32)), Missing: s.Missing,
		}
		if s.DeadLetters.Newest != nil {
			row.NewestDeadLetter = timestamppb.New(*s.DeadLetters.Newest)
		}
		for _, b := range s.Breakers {
			bs := &jetflowv1.BreakerStatus{Upstream: b.Upstream, State: b.State, Replicas: map[string]int32{}}
			for state, n := range b.Replicas {
				bs.Replicas[state] = int32(min(n, math.MaxInt32))
			}
			if b.OpenForMS > 0 {
				bs.OpenFor = durationpb.New(time.Duration(b.OpenForMS) * time.Millisecond)
			}
			row.Breakers = append(row.Breakers, bs)
		}
		resp.Stages = append(resp.Stages, row)
	}
	return resp, nil
}
