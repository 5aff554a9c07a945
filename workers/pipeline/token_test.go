package pipeline

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileTokenRereadsRotatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	write := func(s string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	write("first-token\n", base)
	tok := FileToken(path)
	if got, err := tok(); err != nil || got != "first-token" {
		t.Fatalf("token = %q, %v", got, err)
	}
	write("second-token\n", base.Add(time.Minute))
	if got, err := tok(); err != nil || got != "second-token" {
		t.Fatalf("after rotation token = %q, %v", got, err)
	}
	write("  \n", base.Add(2*time.Minute))
	if _, err := tok(); err == nil {
		t.Fatal("an empty token file must be an error")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := tok(); err == nil {
		t.Fatal("a missing token file must be an error")
	}
}
