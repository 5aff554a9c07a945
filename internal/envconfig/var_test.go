package envconfig

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteHelp(t *testing.T) {
	var b bytes.Buffer
	err := WriteHelp(&b,
		Section{Title: "First", Vars: []Var{
			{Name: "A_URL", Required: true, Usage: "where"},
			{Name: "A_TIMEOUT", Default: 5 * time.Minute, Usage: "how long"},
		}},
		Section{Title: "Second", Vars: []Var{
			{Name: "GOMEMLIMIT", Usage: "memory", ReadBy: "the Go runtime"},
			{Name: "B_BACKOFF", Default: []time.Duration{200 * time.Millisecond, time.Second}, Usage: "retries"},
			{Name: "B_PLAIN", Usage: "nothing more"},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := `First:
  A_URL      where (required)
  A_TIMEOUT  how long (default 5m)

Second:
  GOMEMLIMIT  memory (read by the Go runtime)
  B_BACKOFF   retries (default 200ms,1s)
  B_PLAIN     nothing more
`
	if b.String() != want {
		t.Errorf("WriteHelp wrote\n%s\nwant\n%s", b.String(), want)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 2 * time.Second: "2s", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m",
		6 * time.Hour: "6h", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	got := Names(Section{Vars: []Var{{Name: "A"}, {Name: "B"}}}, Section{Vars: []Var{{Name: "C"}}})
	if !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Errorf("Names = %v", got)
	}
	if !strings.Contains(Var{Name: "X", Default: 0}.describe(), "default 0") {
		t.Error("a zero number default is a default worth stating")
	}
}
