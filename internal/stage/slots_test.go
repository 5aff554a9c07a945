package stage

import "testing"

func TestSlotsCountFreePlaces(t *testing.T) {
	s := newSlots(3)
	if n := s.takeFree(0, 1); n != 1 || s.free() != 2 {
		t.Fatalf("takeFree(0, 1) = %d with %d left, want 1 with 2 left", n, s.free())
	}
	if n := s.takeFree(1, 2); n != 2 || s.free() != 1 {
		t.Fatalf("takeFree(1, 2) = %d with %d left, want 2 with 1 left", n, s.free())
	}
	if n := s.takeFree(2, 5); n != 3 || s.free() != 0 {
		t.Fatalf("takeFree(2, 5) = %d with %d left, want every free slot: 3 with 0 left", n, s.free())
	}
	if n := s.takeFree(3, 4); n != 3 {
		t.Fatalf("takeFree with nothing free = %d, want the 3 held", n)
	}
	s.give(3)
	if s.free() != 3 {
		t.Fatalf("after give(3): %d free, want 3", s.free())
	}
}
