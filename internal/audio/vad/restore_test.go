package vad

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

// varied is a stream that visits every phase: bursts, a dropped click, a long stretch cut at
// MaxSegment, noise, an idle gap and a flush.
func varied(rate int) []step {
	return []step{
		audio(
			silence(rate, 700*ms), tone(rate, 300, -18, time.Second), silence(rate, 600*ms),
			tone(rate, 300, -18, 100*ms), silence(rate, 700*ms),
			mix(noise(rate, -30, 7*time.Second, 3), tone(rate, 300, -20, 6*time.Second)),
			noise(rate, -50, time.Second, 4),
			tone(rate, 500, -25, 400*ms),
		),
		{idle: 5 * time.Second},
		audio(silence(rate, 300*ms), tone(rate, 700, -22, 900*ms), silence(rate, 150*ms)),
		{flush: true},
		audio(tone(rate, 300, -18, 500*ms), silence(rate, time.Second)),
	}
}

// TestRestoreResumesExactly processes a stream in one detector, and again in chunks of random
// sizes with the state carried between fresh detectors as JSON, as the stt worker does through
// KV: the events and the final state must be identical.
func TestRestoreResumesExactly(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "defaults at 16 kHz", cfg: Config{SampleRate: 16000, MaxSegment: 4 * time.Second}},
		{name: "adaptive at 44.1 kHz", cfg: Config{SampleRate: 44100, NoiseMargin: 8, MaxSegment: 4 * time.Second}},
		{name: "30 ms frames at 8 kHz", cfg: Config{SampleRate: 8000, Frame: 30 * time.Millisecond, MaxSegment: 3 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := varied(tt.cfg.SampleRate)
			ref, err := New(tt.cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			want := run(t, ref, steps, 0)
			if len(segments(ref.Config(), want)) < 4 {
				t.Fatalf("reference found only %v: the stream does not exercise the detector", want)
			}

			r := rand.New(rand.NewPCG(1, 2))
			var got []Event
			state := ref.State() // replaced before use
			restores := 0
			resume := func() *Energy {
				t.Helper()
				d, err := New(tt.cfg)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if restores > 0 {
					if err := d.Restore(roundTrip(t, state)); err != nil {
						t.Fatalf("Restore: %v", err)
					}
				}
				restores++
				return d
			}
			for _, st := range steps {
				d := resume()
				switch {
				case st.flush:
					got = append(got, d.Flush()...)
				case st.idle > 0:
					got = append(got, d.Idle(st.idle)...)
				default:
					b := pcm(st.audio)
					for len(b) > 0 {
						n := min(2*(1+r.IntN(1500)), len(b))
						ev, err := d.Push(b[:n])
						if err != nil {
							t.Fatalf("Push: %v", err)
						}
						got = append(got, ev...)
						b = b[n:]
						state = d.State()
						d = resume()
					}
				}
				state = d.State()
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("across %d restores: events\n%v\nwant (one detector)\n%v", restores, got, want)
			}
			if !reflect.DeepEqual(roundTrip(t, state), roundTrip(t, ref.State())) {
				t.Fatalf("final state %+v, want %+v", state, ref.State())
			}
		})
	}
}

func roundTrip(t *testing.T, s State) State {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("encoding state: %v", err)
	}
	var out State
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decoding state %s: %v", b, err)
	}
	return out
}

func TestRestoreRefusesInvalidState(t *testing.T) {
	cfg := Config{SampleRate: 16000}
	base := func() State {
		d, err := New(cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if _, err := d.Push(pcm(concat(silence(16000, time.Second), tone(16000, 440, -20, 500*ms)))); err != nil {
			t.Fatalf("Push: %v", err)
		}
		s := d.State()
		if s.Phase != PhaseSpeech {
			t.Fatalf("phase %s, want speech", s.Phase)
		}
		return s
	}
	tests := []struct {
		name   string
		change func(*State)
		want   string
	}{
		{name: "other sample rate", change: func(s *State) { s.SampleRate = 8000 }, want: "sample rate 8000"},
		{name: "odd pending bytes", change: func(s *State) { s.Pending = []byte{1} }, want: "pending"},
		{name: "a whole frame pending", change: func(s *State) { s.Pending = make([]byte, 640) }, want: "pending"},
		{name: "negative position", change: func(s *State) { s.Position = -1 }, want: "position"},
		{name: "floor past position", change: func(s *State) { s.Floor = s.Position + 1 }, want: "floor"},
		{name: "unknown phase", change: func(s *State) { s.Phase = "talking" }, want: "unknown phase"},
		{name: "start after onset", change: func(s *State) { s.Start = s.Onset + 1 }, want: "speech phase"},
		{name: "segment longer than max", change: func(s *State) { s.Position += 40 * 16000; s.LastVoiced = s.Position }, want: "speech phase"},
		{name: "silence with segment fields", change: func(s *State) { s.Phase = PhaseSilence }, want: "silence phase"},
		{name: "noise floor above full scale", change: func(s *State) { s.NoiseFloor = 3 }, want: "noise floor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			before := d.State()
			s := base()
			tt.change(&s)
			err = d.Restore(s)
			if !errors.Is(err, ErrInvalidState) || !failure.IsPermanent(err) {
				t.Fatalf("Restore = %v, want permanent ErrInvalidState", err)
			}
			if want := tt.want; !strings.Contains(err.Error(), want) {
				t.Fatalf("Restore = %v, want it to mention %q", err, want)
			}
			if !reflect.DeepEqual(d.State(), before) {
				t.Fatalf("refused Restore changed the state to %+v", d.State())
			}
		})
	}
}
