//go:build !unix

package bench

import "time"

// cpuTime is not measured on this platform; CPU per message is reported as zero.
func cpuTime() time.Duration { return 0 }
