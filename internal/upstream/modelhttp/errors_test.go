package modelhttp

import (
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{name: "seconds", value: "7", want: 7 * time.Second, wantOK: true},
		{name: "zero", value: "0", want: 0, wantOK: true},
		{name: "padded", value: " 3 ", want: 3 * time.Second, wantOK: true},
		{name: "http date", value: "Sat, 28 Nov 2026 12:00:30 GMT", want: 30 * time.Second, wantOK: true},
		{name: "date in the past", value: "Sat, 28 Nov 2026 11:00:00 GMT", want: 0, wantOK: true},
		{name: "capped seconds", value: "999999999999", want: MaxRetryAfter, wantOK: true},
		{name: "capped date", value: "Sun, 29 Nov 2026 12:00:00 GMT", want: MaxRetryAfter, wantOK: true},
		{name: "empty", value: ""},
		{name: "negative", value: "-5"},
		{name: "fraction", value: "1.5"},
		{name: "garbage", value: "later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(tt.value, now)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReadErrorBody(t *testing.T) {
	key := "sk-0123456789"
	tests := []struct {
		name string
		body string
		want string
	}{
		{name: "echoed key", body: `{"error":"bad key sk-0123456789"}`, want: `{"error":"bad key [REDACTED]"}`},
		{name: "key across the cut", body: strings.Repeat("x", MaxErrorBody-5) + key + "tail",
			want: strings.Repeat("x", MaxErrorBody-5) + "[REDA"},
		{name: "long body cut", body: strings.Repeat("y", 3*MaxErrorBody), want: strings.Repeat("y", MaxErrorBody)},
		{name: "invalid UTF-8 replaced", body: "caf\xc3", want: "caf\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReadErrorBody(strings.NewReader(tt.body), key)
			if strings.Contains(got, key[:6]) {
				t.Fatalf("body keeps (part of) the key: %q", got)
			}
			if len(got) > MaxErrorBody {
				t.Fatalf("body has %d bytes, want at most %d", len(got), MaxErrorBody)
			}
			if got != tt.want {
				t.Fatalf("body = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRetryableStatus(t *testing.T) {
	for code := 100; code <= 599; code++ {
		want := code == 408 || code == 425 || code == 429 || code >= 500
		if got := RetryableStatus(code); got != want {
			t.Errorf("RetryableStatus(%d) = %v, want %v", code, got, want)
		}
	}
}
