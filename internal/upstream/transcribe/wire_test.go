package transcribe

import (
	"reflect"
	"testing"
	"time"
)

const verboseBody = `{"task":"transcribe","language":"english","duration":2.5,"text":" Hello there. General Kenobi.",
 "segments":[{"id":0,"seek":0,"start":0.0,"end":1.2,"text":" Hello there.","tokens":[50364,2425],"temperature":0.0,
   "avg_logprob":-0.2,"compression_ratio":0.9,"no_speech_prob":0.01},
  {"id":1,"seek":0,"start":1.2,"end":2.5,"text":" General Kenobi.","tokens":[],"temperature":0.0,"avg_logprob":-0.3,
   "compression_ratio":1.0,"no_speech_prob":0.02}],
 "words":[{"word":"Hello","start":0.0,"end":0.4}]}`

func TestDecodeTranscription(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Result
		wantErr bool
	}{
		{name: "json", body: `{"text":" Hello."}`, want: Result{Text: "Hello."}},
		{name: "json with usage", body: `{"text":"hi","usage":{"type":"duration","seconds":3}}`, want: Result{Text: "hi"}},
		{name: "empty transcript", body: `{"text":""}`, want: Result{}},
		{
			name: "verbose_json",
			body: verboseBody,
			want: Result{Text: "Hello there. General Kenobi.", Language: "english", Duration: 2500 * time.Millisecond, Segments: []Segment{
				{Start: 0, End: 1200 * time.Millisecond, Text: "Hello there."},
				{Start: 1200 * time.Millisecond, End: 2500 * time.Millisecond, Text: "General Kenobi."},
			}},
		},
		{name: "odd times are clamped", body: `{"text":"x","duration":1e300,"segments":[{"start":-3,"end":0.0000004,"text":"x"}]}`,
			want: Result{Text: "x", Duration: 24 * time.Hour, Segments: []Segment{{Start: 0, End: 0, Text: "x"}}}},
		{name: "no text", body: `{"language":"en"}`, wantErr: true},
		{name: "plain text body", body: `Hello.`, wantErr: true},
		{name: "segments not a list", body: `{"text":"a","segments":{}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTranscription([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzDecodeTranscription(f *testing.F) {
	f.Add([]byte(`{"text":"Hello."}`))
	f.Add([]byte(verboseBody))
	f.Add([]byte(`{"text":null,"duration":-1}`))
	f.Add([]byte(`{"text":"x","segments":[{"start":1e308,"end":"2"}]}`))
	f.Add([]byte(`{"type":"transcript.text.done","text":"hi"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := decodeTranscription(body)
		if err != nil {
			return
		}
		if res.Duration < 0 || res.Duration > 24*time.Hour {
			t.Fatalf("duration %v out of range", res.Duration)
		}
		for _, s := range res.Segments {
			if s.Start < 0 || s.End < 0 || s.Start > 24*time.Hour || s.End > 24*time.Hour {
				t.Fatalf("segment %+v out of range", s)
			}
		}
	})
}
