package stt

import (
	"errors"
	"fmt"
)

// errSampleRate is matched by the error for a chunk whose sample rate differs from its
// session's.
var errSampleRate = errors.New("sample rate differs from the session's")

// needChunksError stops a session update that has to consume chunks not read back from the
// stream yet. The handler reads them and runs the update again; reading inside the update would
// repeat the reads on every lost CAS race.
type needChunksError struct {
	streamSeqs []uint64
}

func (e *needChunksError) Error() string {
	return fmt.Sprintf("%d pending chunks must be read back from the stream first", len(e.streamSeqs))
}
