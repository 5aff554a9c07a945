package bench

import (
	"testing"
)

// TestChatPeakRSSTarget: scenario 5 holds the chat worker to issue 15's 36 MB, judged on the
// peak scenario 3 recorded.
func TestChatPeakRSSTarget(t *testing.T) {
	tests := []struct {
		name string
		peak int64
		want string
	}{
		{name: "under", peak: 30e6, want: StatusOK},
		{name: "at the target", peak: 36e6, want: StatusOK},
		{name: "over", peak: 36e6 + 1, want: StatusBelowTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Harness{}
			h.chatRSS.Store(tt.peak)
			rows, err := chatPeakRSS{}.Run(t.Context(), h)
			if err != nil {
				t.Fatal(err)
			}
			if rows[0].Status != tt.want || rows[0].Target != "<= 36 MB" {
				t.Errorf("row %+v, want status %q against <= 36 MB", rows[0], tt.want)
			}
		})
	}
}
