package envconfig

import (
	"strings"
	"testing"
	"time"
)

func TestReaderNamesEveryBadVariable(t *testing.T) {
	r := New(Map(map[string]string{
		"N":     "x",
		"D":     "5 minutes",
		"B":     "maybe",
		"U":     "not a url",
		"RANGE": "99",
		"LIST":  "1s,zz",
	}))
	r.Int("N", 1, 0, 10)
	r.Duration("D", time.Second, 0, time.Hour)
	r.Bool("B", false)
	r.URL("U", "")
	r.Int("RANGE", 1, 0, 10)
	r.Durations("LIST", nil, 0, time.Hour)
	r.Required("MISSING")
	err := r.Err()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, name := range []string{"N:", "D:", "B:", "U:", "RANGE:", "LIST:", "MISSING:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestReaderValues(t *testing.T) {
	r := New(Map(map[string]string{
		"S": " text ", "N": "7", "F": "0.5", "B": "true", "D": "1.5s",
		"U": "http://host:8000/prefix/", "L": "1s, 2s,5s", "EMPTY": "",
	}))
	if got := r.String("S", ""); got != "text" {
		t.Errorf("String = %q", got)
	}
	if got := r.String("EMPTY", "def"); got != "def" {
		t.Errorf("empty String = %q, want default", got)
	}
	if got := r.Int("N", 0, 0, 10); got != 7 {
		t.Errorf("Int = %d", got)
	}
	if got := r.Float("F", 0, 0, 1); got != 0.5 {
		t.Errorf("Float = %g", got)
	}
	if !r.Bool("B", false) {
		t.Error("Bool = false")
	}
	if got := r.Duration("D", 0, 0, time.Hour); got != 1500*time.Millisecond {
		t.Errorf("Duration = %v", got)
	}
	if got := r.URL("U", ""); got != "http://host:8000/prefix" {
		t.Errorf("URL = %q", got)
	}
	if got := r.Durations("L", nil, 0, time.Minute); len(got) != 3 || got[2] != 5*time.Second {
		t.Errorf("Durations = %v", got)
	}
	if got := r.Int("UNSET", 3, 0, 10); got != 3 {
		t.Errorf("default Int = %d", got)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestURLErrorDoesNotEchoValue(t *testing.T) {
	r := New(Map(map[string]string{"U": "nats//user:secret@host"}))
	r.URL("U", "")
	if err := r.Err(); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v must exist and not contain the value", err)
	}
}
