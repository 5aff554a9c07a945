package dlq

import "github.com/jetflow-dev/jetflow/internal/operator/deadletters"

// The dead letters themselves (reading, selecting, the replay records and the safe replay) are
// package deadletters', shared with the gateway's AdminService; this package is the command
// line around them. These names keep the commands reading as they did.
type (
	Letter    = deadletters.Letter
	Selection = deadletters.Selection
	SeqRange  = deadletters.SeqRange
	Record    = deadletters.Record
)

// HeaderReplayedFrom is deadletters.HeaderReplayedFrom.
const HeaderReplayedFrom = deadletters.HeaderReplayedFrom

const stateReplayed = deadletters.StateReplayed

var (
	readLetters      = deadletters.Read
	getLetter        = deadletters.Get
	deadLetterStream = deadletters.Stream
	openRecords      = deadletters.OpenRecords
	forLetter        = deadletters.ForLetter
	replayMsgID      = deadletters.ReplayMsgID
)
