package vad

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/failure"
)

const ms = time.Millisecond

// step is one thing that happens to the detector: audio arrives, time passes without audio, or
// the stream ends.
type step struct {
	audio []int16
	idle  time.Duration
	flush bool
}

func audio(parts ...[]int16) step { return step{audio: concat(parts...)} }

// segment is an expected segment in time.
type segment struct {
	start, end time.Duration
	reason     Reason
}

// run feeds steps to d in pushes of chunk samples (0: each step at once), checks the events
// are well-ordered, and returns them.
func run(t *testing.T, d Detector, steps []step, chunk int) []Event {
	t.Helper()
	var events []Event
	from := d.State()
	for _, st := range steps {
		switch {
		case st.flush:
			events = append(events, d.Flush()...)
		case st.idle > 0:
			events = append(events, d.Idle(st.idle)...)
		default:
			b := pcm(st.audio)
			size := len(b)
			if chunk > 0 {
				size = 2 * chunk
			}
			for len(b) > 0 {
				n := min(size, len(b))
				ev, err := d.Push(b[:n])
				if err != nil {
					t.Fatalf("Push: %v", err)
				}
				events = append(events, ev...)
				b = b[n:]
			}
		}
	}
	if err := wellOrdered(events, from, d.State()); err != nil {
		t.Fatalf("events %v: %v", events, err)
	}
	return events
}

// wellOrdered checks the event contract for events emitted between states from and to:
// SpeechStart and SegmentEnd alternate, starting with SpeechStart unless from has a segment
// open; a SegmentEnd has its SpeechStart's Start; segments are non-empty, do not overlap, and
// lie within the audio the detector has seen; a segment is open at the end exactly when to is
// in PhaseSpeech.
func wellOrdered(events []Event, from, to State) error {
	pushed := to.Position + int64(len(to.Pending)/2)
	open := from.Phase == PhaseSpeech
	openStart, prevEnd := from.Start, from.Floor
	for i, e := range events {
		if e.Start < 0 || e.Start > pushed || e.End > pushed {
			return fmt.Errorf("event %d (%v) outside the %d samples seen", i, e, pushed)
		}
		switch e.Kind {
		case SpeechStart:
			if open {
				return fmt.Errorf("event %d (%v): speech start inside an open segment", i, e)
			}
			if e.Start < prevEnd {
				return fmt.Errorf("event %d (%v): starts before the previous segment's end %d", i, e, prevEnd)
			}
			open, openStart = true, e.Start
		case SegmentEnd:
			if !open {
				return fmt.Errorf("event %d (%v): segment end without a speech start", i, e)
			}
			if e.Start != openStart {
				return fmt.Errorf("event %d (%v): start differs from its speech start %d", i, e, openStart)
			}
			if e.End <= e.Start {
				return fmt.Errorf("event %d (%v): empty segment", i, e)
			}
			switch e.Reason {
			case ReasonSilence, ReasonMaxLength, ReasonIdle, ReasonFlush:
			default:
				return fmt.Errorf("event %d (%v): unknown reason", i, e)
			}
			open, prevEnd = false, e.End
		default:
			return fmt.Errorf("event %d (%v): unknown kind", i, e)
		}
	}
	if open != (to.Phase == PhaseSpeech) {
		return fmt.Errorf("events leave a segment open=%v but the detector is in phase %s", open, to.Phase)
	}
	return nil
}

func segments(cfg Config, events []Event) []segment {
	var out []segment
	for _, e := range events {
		if e.Kind == SegmentEnd {
			out = append(out, segment{cfg.Duration(e.Start), cfg.Duration(e.End), e.Reason})
		}
	}
	return out
}

func near(a, b, tol time.Duration) bool { return a-b <= tol && b-a <= tol }

func TestSegments(t *testing.T) {
	// bursts: 0.8 s of silence, then n times (1 s of 440 Hz at -20 dBFS, 0.8 s of silence).
	bursts := func(rate, n int) step {
		parts := [][]int16{silence(rate, 800*ms)}
		for range n {
			parts = append(parts, tone(rate, 440, -20, time.Second), silence(rate, 800*ms))
		}
		return audio(parts...)
	}
	// burstSegments are the segments of bursts with default pre-roll (300 ms) and post-roll
	// (200 ms): burst k starts at 0.8 + 1.8k s.
	burstSegments := func(n int) []segment {
		var out []segment
		for k := range n {
			on := 800*ms + time.Duration(k)*1800*ms
			out = append(out, segment{on - 300*ms, on + time.Second + 200*ms, ReasonSilence})
		}
		return out
	}
	// monologue: 40 s of tone with a 100 ms dip every second (at k+0.5 s), then 1 s of silence.
	monologue := func(rate int) step {
		var parts [][]int16
		for range 40 {
			parts = append(parts, tone(rate, 220, -20, 500*ms), silence(rate, 100*ms), tone(rate, 220, -20, 400*ms))
		}
		return audio(append(parts, silence(rate, time.Second))...)
	}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
		want  []segment
		// after ignores segments ending before it (an adaptive detector still learning).
		after time.Duration
	}{
		{
			name:  "tone bursts at 16 kHz",
			cfg:   Config{SampleRate: 16000},
			steps: []step{bursts(16000, 3)},
			want:  burstSegments(3),
		},
		{
			name:  "tone bursts at 8 kHz",
			cfg:   Config{SampleRate: 8000},
			steps: []step{bursts(8000, 2)},
			want:  burstSegments(2),
		},
		{
			name:  "tone bursts at 44.1 kHz",
			cfg:   Config{SampleRate: 44100},
			steps: []step{bursts(44100, 2)},
			want:  burstSegments(2),
		},
		{
			name:  "tone bursts at 48 kHz",
			cfg:   Config{SampleRate: 48000},
			steps: []step{bursts(48000, 2)},
			want:  burstSegments(2),
		},
		{
			name:  "noise below threshold",
			cfg:   Config{SampleRate: 16000},
			steps: []step{audio(noise(16000, -55, 5*time.Second, 1))},
		},
		{
			name:  "digital silence",
			cfg:   Config{SampleRate: 16000},
			steps: []step{audio(silence(16000, 3*time.Second)), {flush: true}},
		},
		{
			name:  "monologue cut at max segment",
			cfg:   Config{SampleRate: 16000},
			steps: []step{monologue(16000)},
			want: []segment{
				{0, 30 * time.Second, ReasonMaxLength},
				{30 * time.Second, 40*time.Second + 200*ms, ReasonSilence},
			},
		},
		{
			name:  "burst shorter than min speech dropped",
			cfg:   Config{SampleRate: 16000},
			steps: []step{audio(silence(16000, 500*ms), tone(16000, 440, -20, 200*ms), silence(16000, time.Second))},
		},
		{
			name:  "burst just over min speech kept",
			cfg:   Config{SampleRate: 16000},
			steps: []step{audio(silence(16000, 500*ms), tone(16000, 440, -20, 300*ms), silence(16000, time.Second))},
			want:  []segment{{200 * ms, 1000 * ms, ReasonSilence}},
		},
		{
			name:  "short bursts with short gaps add up to speech",
			cfg:   Config{SampleRate: 16000},
			steps: []step{audio(silence(16000, 500*ms), tone(16000, 440, -20, 160*ms), silence(16000, 200*ms), tone(16000, 440, -20, 160*ms), silence(16000, time.Second))},
			want:  []segment{{200 * ms, 1220 * ms, ReasonSilence}},
		},
		{
			name: "audio stops mid-speech: idle timeout closes the segment",
			cfg:  Config{SampleRate: 16000},
			steps: []step{
				audio(silence(16000, 500*ms), tone(16000, 440, -20, time.Second)),
				{idle: time.Second}, // not yet
				{idle: 2 * time.Second},
			},
			want: []segment{{200 * ms, 1500 * ms, ReasonIdle}},
		},
		{
			name: "idle drops an onset shorter than min speech",
			cfg:  Config{SampleRate: 16000},
			steps: []step{
				audio(silence(16000, 500*ms), tone(16000, 440, -20, 100*ms)),
				{idle: 5 * time.Second},
				audio(silence(16000, time.Second)),
			},
		},
		{
			name: "flush closes an open segment",
			cfg:  Config{SampleRate: 16000},
			steps: []step{
				audio(silence(16000, 500*ms), tone(16000, 440, -20, time.Second), silence(16000, 100*ms)),
				{flush: true},
			},
			want: []segment{{200 * ms, 1600 * ms, ReasonFlush}},
		},
		{
			name: "pre-roll never reaches back past the previous segment",
			cfg:  Config{SampleRate: 16000, PreRoll: time.Second},
			steps: []step{audio(
				silence(16000, time.Second), tone(16000, 440, -20, time.Second),
				silence(16000, 600*ms), tone(16000, 440, -20, time.Second), silence(16000, time.Second),
			)},
			want: []segment{
				{0, 2200 * ms, ReasonSilence},
				{2200 * ms, 3800 * ms, ReasonSilence},
			},
		},
		{
			name:  "no pre-roll or post-roll",
			cfg:   Config{SampleRate: 16000, PreRoll: -1, PostRoll: -1},
			steps: []step{bursts(16000, 1)},
			want:  []segment{{800 * ms, 1800 * ms, ReasonSilence}},
		},
		{
			name: "loud steady noise is all speech with a fixed threshold",
			cfg:  Config{SampleRate: 16000, MaxSegment: time.Minute},
			steps: []step{
				audio(mix(noise(16000, -35, 8*time.Second, 2), concat(silence(16000, 4*time.Second), tone(16000, 440, -15, time.Second), silence(16000, time.Second), tone(16000, 440, -15, time.Second)))),
				{flush: true},
			},
			want: []segment{{0, 8 * time.Second, ReasonFlush}},
		},
		{
			name: "adaptive threshold finds bursts in loud steady noise",
			cfg:  Config{SampleRate: 16000, NoiseMargin: 10},
			steps: []step{
				audio(mix(noise(16000, -35, 8*time.Second, 2), concat(silence(16000, 4*time.Second), tone(16000, 440, -15, time.Second), silence(16000, time.Second), tone(16000, 440, -15, time.Second)))),
				{flush: true},
			},
			after: 3 * time.Second,
			want: []segment{
				{3700 * ms, 5200 * ms, ReasonSilence},
				{5700 * ms, 7200 * ms, ReasonSilence},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var got []segment
			for _, s := range segments(d.Config(), run(t, d, tt.steps, 0)) {
				if s.end >= tt.after {
					got = append(got, s)
				}
			}
			frame := d.Config().Frame
			if len(got) != len(tt.want) {
				t.Fatalf("segments %v, want %v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if !near(g.start, w.start, frame) || !near(g.end, w.end, frame) || g.reason != w.reason {
					t.Fatalf("segment %d = %v, want %v within one frame (%v); all: %v", i, g, w, frame, got)
				}
				if g.end-g.start > d.Config().MaxSegment {
					t.Fatalf("segment %d = %v longer than max segment %v", i, g, d.Config().MaxSegment)
				}
			}
		})
	}
}

func TestPushRejectsOddLength(t *testing.T) {
	d, err := New(Config{SampleRate: 16000})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := d.Push(pcm(tone(16000, 440, -20, 30*ms))); err != nil {
		t.Fatalf("Push: %v", err)
	}
	before := d.State()
	_, err = d.Push([]byte{1, 2, 3})
	if !errors.Is(err, ErrOddLength) || !failure.IsPermanent(err) {
		t.Fatalf("Push(3 bytes) = %v, want permanent ErrOddLength", err)
	}
	if after := d.State(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("state changed by a refused Push: %+v, was %+v", after, before)
	}
}

// TestSpeechStartReported checks the SpeechStart event: it comes once MinSpeech has been heard,
// and carries the segment's start with the pre-roll.
func TestSpeechStartReported(t *testing.T) {
	cfg := Config{SampleRate: 16000}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ev, err := d.Push(pcm(concat(silence(16000, time.Second), tone(16000, 440, -20, 240*ms))))
	if err != nil || len(ev) != 0 {
		t.Fatalf("Push before min speech = %v, %v; want no event yet", ev, err)
	}
	if got, want := d.KeepFrom(), cfg.WithDefaults().Samples(700*ms); got != want {
		t.Fatalf("KeepFrom during onset = %d, want %d (onset less pre-roll)", got, want)
	}
	ev, err = d.Push(pcm(tone(16000, 440, -20, 20*ms)))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	want := []Event{{Kind: SpeechStart, Start: d.Config().Samples(700 * ms)}}
	if fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", ev, want)
	}
	if got := d.KeepFrom(); got != want[0].Start {
		t.Fatalf("KeepFrom in a segment = %d, want its start %d", got, want[0].Start)
	}
}
