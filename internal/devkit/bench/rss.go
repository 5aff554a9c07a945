package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
)

// PeakRSS is the most resident memory process pid has used so far, in bytes (VmHWM in
// /proc/<pid>/status; Linux only). Scenario 5 reads it from a chat worker process.
func PeakRSS(pid int) (int64, error) { return statusBytes(pid, "VmHWM") }

// AnonRSS is the anonymous part of process pid's resident memory now (RssAnon: heap, stacks),
// without the file-backed pages of its binary, which are shared and reclaimable.
func AnonRSS(pid int) (int64, error) { return statusBytes(pid, "RssAnon") }

func statusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading the status of process %d: %w", pid, err)
	}
	return parseStatusField(data, field)
}

func parseStatusField(status []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte(field+":"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("reading %s: unexpected value %q", field, rest)
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading %s: %w", field, err)
		}
		if kb < 0 || kb > math.MaxInt64>>10 {
			return 0, fmt.Errorf("reading %s: %d kB is out of range", field, kb)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("reading %s: not in the process status", field)
}
