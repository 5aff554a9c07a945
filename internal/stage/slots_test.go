package stage

import (
	"context"
	"testing"
)

func TestSlotsCountFreePlaces(t *testing.T) {
	s := newSlots(3)
	if !s.take(context.Background()) || s.free() != 2 {
		t.Fatalf("after take: %d free, want 2", s.free())
	}
	if n := s.takeFree(1, 2); n != 2 || s.free() != 1 {
		t.Fatalf("takeFree(1, 2) = %d with %d left, want 2 with 1 left", n, s.free())
	}
	if n := s.takeFree(2, 5); n != 3 || s.free() != 0 {
		t.Fatalf("takeFree(2, 5) = %d with %d left, want every free slot: 3 with 0 left", n, s.free())
	}
	if n := s.gather(3, 4); n != 3 {
		t.Fatalf("gather with nothing free = %d, want the 3 held", n)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if s.take(ended) {
		t.Fatal("take with nothing free and an ended context took a slot")
	}
	s.give(3)
	if s.free() != 3 {
		t.Fatalf("after give(3): %d free, want 3", s.free())
	}
	if n := s.gather(0, 2); n != 2 {
		t.Fatalf("gather(0, 2) with 3 free = %d, want 2", n)
	}
}
