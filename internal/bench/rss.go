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
func PeakRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading the status of process %d: %w", pid, err)
	}
	return parsePeakRSS(data)
}

func parsePeakRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("reading VmHWM: unexpected value %q", rest)
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading VmHWM: %w", err)
		}
		if kb < 0 || kb > math.MaxInt64>>10 {
			return 0, fmt.Errorf("reading VmHWM: %d kB is out of range", kb)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("reading VmHWM: not in the process status")
}
