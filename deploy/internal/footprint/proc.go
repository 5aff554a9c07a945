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
	// Anon is the anonymous part of RSS (RssAnon: heap, stacks, runtime metadata), the process's
	// own; the rest is mostly the binary's file-backed pages, shared and reclaimable. Zero when
	// the kernel does not report it (before Linux 4.5).
	Anon int64
}

// ReadMemory reads /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("reading memory of process %d: %w", pid, err)
	}
	return ParseStatus(data)
}

// ParseStatus reads VmRSS, VmHWM and, when present, RssAnon from the text of /proc/<pid>/status
// ("VmRSS:  12345 kB").
func ParseStatus(data []byte) (Memory, error) {
	var m Memory
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM" && key != "RssAnon") {
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
		switch key {
		case "VmRSS":
			m.RSS = kb * 1024
			found++
		case "VmHWM":
			m.Peak = kb * 1024
			found++
		case "RssAnon":
			m.Anon = kb * 1024
		}
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("VmRSS or VmHWM missing from process status")
	}
	return m, nil
}
