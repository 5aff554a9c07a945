package gateway

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// The published deadline is the earlier of the request's own and the caller's; without a
// caller's deadline the request's own (or none) stands.
func TestRequestDeadline(t *testing.T) {
	now := time.Now()
	soon, later := now.Add(time.Second), now.Add(time.Minute)
	withDeadline := func(d time.Time) context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name string
		ctx  context.Context
		own  *timestamppb.Timestamp
		want *time.Time
	}{
		{"neither", context.Background(), nil, nil},
		{"only the request's", context.Background(), timestamppb.New(later), &later},
		{"only the caller's", withDeadline(soon), nil, &soon},
		{"the caller's is earlier", withDeadline(soon), timestamppb.New(later), &soon},
		{"the request's is earlier", withDeadline(later), timestamppb.New(soon), &soon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requestDeadline(tt.ctx, tt.own)
			switch {
			case tt.want == nil && got != nil:
				t.Fatalf("deadline %v, want none", got.AsTime())
			case tt.want != nil && (got == nil || !got.AsTime().Equal(*tt.want)):
				t.Fatalf("deadline %v, want %v", got, *tt.want)
			}
		})
	}
}

// A call waits at most MaxWait without a caller's deadline, and never past the request's own.
func TestWaitContext(t *testing.T) {
	s := &Server{cfg: Config{MaxWait: time.Hour}}
	ctx, cancel := s.waitContext(context.Background(), nil)
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Hour || time.Until(d) < 59*time.Minute {
		t.Fatalf("deadline %v, want in an hour", d)
	}
	own := time.Now().Add(time.Second)
	ctx2, cancel2 := s.waitContext(context.Background(), timestamppb.New(own))
	defer cancel2()
	if d, _ := ctx2.Deadline(); !d.Equal(own) {
		t.Fatalf("deadline %v, want the request's %v", d, own)
	}
}
