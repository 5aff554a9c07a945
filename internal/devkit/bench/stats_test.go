package bench

import (
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{name: "none", in: nil, want: 0},
		{name: "one", in: []float64{3}, want: 3},
		{name: "odd, unsorted", in: []float64{9, 1, 5}, want: 5},
		{name: "even averages the middle two", in: []float64{4, 1, 3, 10}, want: 3.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // 100ms .. 1ms, reversed
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "none", in: nil, p: 99, want: 0},
		{name: "p50 of 100", in: hundred, p: 50, want: 50 * time.Millisecond},
		{name: "p99 of 100", in: hundred, p: 99, want: 99 * time.Millisecond},
		{name: "p100 is the max", in: hundred, p: 100, want: 100 * time.Millisecond},
		{name: "p99 of 10 is the max", in: hundred[90:], p: 99, want: 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRequestHasTheAskedSize(t *testing.T) {
	tests := []struct {
		name string
		size int
		ok   bool
	}{
		{name: "smallest", size: minPayloadSize, ok: true},
		{name: "256 B", size: 256, ok: true},
		{name: "one-byte length, largest", size: 129, ok: true},
		{name: "no length fits exactly", size: 130},
		{name: "1 KiB", size: 1 << 10, ok: true},
		{name: "512 KiB", size: 512 << 10, ok: true},
		{name: "too small", size: minPayloadSize - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := request(tt.size)
			if !tt.ok {
				if err == nil {
					t.Fatalf("request(%d) gave %d bytes, want an error", tt.size, len(data))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var m requestType
			if len(data) != tt.size || proto.Unmarshal(data, &m) != nil {
				t.Fatalf("request(%d) = %d bytes that decode: %v", tt.size, len(data), proto.Unmarshal(data, &m))
			}
		})
	}
}

func TestPeakRSS(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   int64
		err    bool
	}{
		{name: "kernel format", status: "Name:\tjetflow\nVmPeak:\t  20000 kB\nVmHWM:\t   15360 kB\nVmRSS:\t 12000 kB\n", want: 15 << 20},
		{name: "missing", status: "Name:\tjetflow\n", err: true},
		{name: "bad unit", status: "VmHWM:\t 15 MB\n", err: true},
		{name: "not a number", status: "VmHWM:\t lots kB\n", err: true},
		{name: "negative", status: "VmHWM:\t -1 kB\n", err: true},
		{name: "overflows", status: "VmHWM:\t 9223372036854775807 kB\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusField([]byte(tt.status), "VmHWM")
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("parseStatusField(VmHWM) = %d, %v; want %d, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestPeakRSSOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	n, err := PeakRSS(os.Getpid())
	if err != nil || n <= 0 {
		t.Fatalf("PeakRSS(self) = %d, %v", n, err)
	}
}

func FuzzParsePeakRSS(f *testing.F) {
	f.Add([]byte("Name:\tx\nVmHWM:\t   15360 kB\n"))
	f.Add([]byte("VmHWM:"))
	f.Add([]byte("VmHWM:\t-1 kB\n"))
	f.Add([]byte("VmHWM:\t99999999999999999999 kB\n"))
	f.Fuzz(func(t *testing.T, status []byte) {
		if n, err := parseStatusField(status, "VmHWM"); err == nil && n < 0 {
			t.Fatalf("negative peak %d without an error", n)
		}
	})
}
