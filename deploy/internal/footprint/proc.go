package footprint

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is what /proc/<pid>/status says about a process's resident memory.
type Memory struct {
	// RSS is the resident set size now (VmRSS); Peak its high-water mark (VmHWM).
	RSS, Peak int64
}

// ReadMemory reads /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("reading memory of process %d: %w", pid, err)
	}
	return ParseStatus(data)
}

// ParseStatus reads VmRSS and VmHWM from the text of /proc/<pid>/status ("VmRSS:  12345 kB").
func ParseStatus(data []byte) (Memory, error) {
	var m Memory
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return Memory{}, fmt.Errorf("unexpected %s line %q", key, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb < 0 {
			return Memory{}, fmt.Errorf("unexpected %s value %q", key, fields[0])
		}
		if key == "VmRSS" {
			m.RSS = kb * 1024
		} else {
			m.Peak = kb * 1024
		}
		found++
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("VmRSS or VmHWM missing from process status")
	}
	return m, nil
}
