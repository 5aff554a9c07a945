package vad

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// fuzzConfig picks a configuration from one byte: every supported rate family, fixed and
// adaptive thresholds, short MaxSegment so that cuts happen in short inputs.
func fuzzConfig(b byte) Config {
	rates := []int{8000, 11025, 16000, 22050, 44100, 48000}
	cfg := Config{SampleRate: rates[int(b)%len(rates)], MaxSegment: time.Second}
	if b&0x08 != 0 {
		cfg.NoiseMargin = 6
		cfg.NoiseRise = 200 * time.Millisecond
	}
	if b&0x10 != 0 {
		cfg.PreRoll, cfg.PostRoll = -1, -1
	}
	if b&0x20 != 0 {
		cfg.Frame = 30 * time.Millisecond
		cfg.MinSpeech = 0
	}
	return cfg
}

// FuzzDetector drives a detector with a script of operations (tone, silence, raw bytes, idle,
// flush, odd-length push) and checks that it never panics, that its events are well-ordered,
// that no event starts before the KeepFrom reported before it, and that a twin detector
// restored from JSON before every operation emits exactly the same events.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{0x00, 0x05, 0x05, 0x05, 0x05, 0x05, 0x05, 0xA0, 0x05, 0x05, 0x05, 0x05, 0x05, 0x05, 0xBF}, []byte(nil))
	f.Add([]byte{0x0A, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0xE8, 0xF0}, []byte(nil))
	f.Add([]byte{0x33, 0xC1, 0xC1, 0xC1, 0xFA, 0x01, 0x01, 0x01, 0xE0, 0xEF, 0x01, 0xF1}, []byte("\x00\x80\xff\x7f\x00\x80\xff\x7f\x00\x40\x00\xc0"))
	f.Add([]byte{0x19, 0x02, 0x9F, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0xFF}, []byte(nil))
	f.Add([]byte{0x2C, 0x7F, 0x00, 0x40, 0x80, 0xC0, 0xD0, 0xFF, 0xE5, 0xF3}, make([]byte, 4000))
	f.Add([]byte{}, []byte{})
	// Signals are cached across inputs: generating them dominates the cost of an input.
	// Fuzz calls the function sequentially within a process, so a plain map is safe.
	type key struct {
		rate int
		op   byte
	}
	signals := map[key][]byte{}
	signal := func(rate int, op byte) []byte {
		k := key{rate, op}
		if b, ok := signals[k]; ok {
			return b
		}
		var b []byte
		if op < 0x80 { // tone: 60 or 120 ms at 0 to -94.5 dBFS
			b = pcm(tone(rate, 440, -1.5*float64(op&0x3f), time.Duration(1+op>>6)*60*ms))
		} else { // silence, 0 to 1.26 s
			b = pcm(silence(rate, time.Duration(op&0x3f)*20*ms))
		}
		signals[k] = b
		return b
	}
	f.Fuzz(func(t *testing.T, script, raw []byte) {
		if len(script) == 0 {
			return
		}
		cfg := fuzzConfig(script[0])
		script = script[1:min(len(script), 151)]
		a, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		b, err := New(cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		rate := cfg.SampleRate
		var got, want []Event
		for i, op := range script {
			keep := a.KeepFrom()
			var ev []Event
			// b resumes from a JSON copy of its own state before every operation.
			enc, err := json.Marshal(b.State())
			if err != nil {
				t.Fatalf("op %d: encoding state: %v", i, err)
			}
			var st State
			if err := json.Unmarshal(enc, &st); err != nil {
				t.Fatalf("op %d: decoding state %s: %v", i, enc, err)
			}
			if b, err = New(cfg); err != nil {
				t.Fatalf("New: %v", err)
			}
			if err := b.Restore(st); err != nil {
				t.Fatalf("op %d: restoring its own state %s: %v", i, enc, err)
			}
			var evB []Event
			switch {
			case op < 0xC0: // a tone or silence
				samples := signal(rate, op)
				ev, evB = push(t, a, samples), push(t, b, samples)
			case op < 0xE0: // the next raw bytes, up to 1984, whole samples
				n := min(int(op&0x1f)*64, len(raw)&^1)
				ev, evB = push(t, a, raw[:n]), push(t, b, raw[:n])
				raw = raw[n:]
			case op < 0xF0:
				idle := time.Duration(op&0x0f) * 300 * ms
				ev, evB = a.Idle(idle), b.Idle(idle)
			case op < 0xF8:
				ev, evB = a.Flush(), b.Flush()
			default:
				before := a.State()
				if _, err := a.Push(make([]byte, 2*int(op&7)+1)); !errors.Is(err, ErrOddLength) {
					t.Fatalf("op %d: odd push = %v, want ErrOddLength", i, err)
				}
				if !reflect.DeepEqual(a.State(), before) {
					t.Fatalf("op %d: refused push changed the state", i)
				}
			}
			for _, e := range ev {
				if e.Start < keep {
					t.Fatalf("op %d: event %v starts before KeepFrom %d reported before it", i, e, keep)
				}
				if e.Kind == SegmentEnd && e.End-e.Start > a.Config().Samples(cfg.MaxSegment) {
					t.Fatalf("op %d: segment %v longer than max segment", i, e)
				}
			}
			want = append(want, ev...)
			got = append(got, evB...)
		}
		if err := wellOrdered(want, State{Phase: PhaseSilence}, a.State()); err != nil {
			t.Fatalf("events %v: %v", want, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("restored detector: events\n%v\nwant\n%v", got, want)
		}
	})
}

func push(t *testing.T, d Detector, b []byte) []Event {
	t.Helper()
	ev, err := d.Push(b)
	if err != nil {
		t.Fatalf("Push(%d bytes): %v", len(b), err)
	}
	return ev
}

// FuzzRestore feeds arbitrary JSON as a stored state, as a corrupted KV entry would be: Restore
// must refuse it or resume into a detector that stays well-behaved.
func FuzzRestore(f *testing.F) {
	// Real states from every phase, and broken ones.
	cfg := Config{SampleRate: 16000}
	d, err := New(cfg)
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	for _, part := range [][]int16{
		silence(16000, 410*ms), tone(16000, 440, -20, 110*ms), tone(16000, 440, -20, 500*ms),
		silence(16000, 300*ms), silence(16000, 300*ms),
	} {
		if _, err := d.Push(pcm(part)); err != nil {
			f.Fatalf("Push: %v", err)
		}
		enc, err := json.Marshal(d.State())
		if err != nil {
			f.Fatalf("encoding state: %v", err)
		}
		f.Add(enc, uint8(16000/4000))
	}
	f.Add([]byte(`{"sample_rate":8000,"position":100,"phase":"speech","floor":0,"onset":10,"start":5,"last_voiced":90}`), uint8(2))
	f.Add([]byte(`{"sample_rate":16000,"position":9223372036854775807,"phase":"silence","floor":9223372036854775807}`), uint8(4))
	f.Add([]byte(`{"sample_rate":16000,"phase":"onset","onset":-5,"voiced":1,"last_voiced":3,"position":4,"pending":"AAA="}`), uint8(4))
	f.Add([]byte(`{"noise_floor_dbfs":1e999}`), uint8(4))
	f.Add([]byte(`null`), uint8(12))
	f.Fuzz(func(t *testing.T, data []byte, rateSel uint8) {
		var st State
		if json.Unmarshal(data, &st) != nil {
			return
		}
		cfg := Config{SampleRate: MinSampleRate + 4000*int(rateSel%11), MaxSegment: 2 * time.Second}
		d, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		if err := d.Restore(st); err != nil {
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("Restore = %v, want ErrInvalidState", err)
			}
			return
		}
		keep := d.KeepFrom()
		if keep < st.Floor || keep > st.Position {
			t.Fatalf("KeepFrom = %d outside floor %d..position %d", keep, st.Floor, st.Position)
		}
		rate := cfg.SampleRate
		var events []Event
		events = append(events, push(t, d, pcm(concat(silence(rate, 100*ms), tone(rate, 440, -20, 2500*ms), silence(rate, 700*ms), tone(rate, 440, -20, 400*ms))))...)
		events = append(events, d.Idle(time.Hour)...)
		events = append(events, d.Flush()...)
		for _, e := range events {
			if e.Start < keep {
				t.Fatalf("event %v starts before KeepFrom %d", e, keep)
			}
		}
		if err := wellOrdered(events, st, d.State()); err != nil {
			t.Fatalf("after restoring %s: events %v: %v", data, events, err)
		}
	})
}
