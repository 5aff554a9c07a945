package status

import "github.com/jetflow-dev/jetflow/internal/operator/stagestatus"

// The look at the platform (what is read, and the rule that says healthy) is package
// stagestatus', shared with the gateway's AdminService; this package is the command line around
// it. These names keep the command reading as it did.
type (
	Report      = stagestatus.Report
	StageReport = stagestatus.StageReport
	DeadLetters = stagestatus.DeadLetters
)

const (
	stateClosed   = stagestatus.StateClosed
	stateHalfOpen = stagestatus.StateHalfOpen
	stateOpen     = stagestatus.StateOpen
)

var (
	addReplicas = stagestatus.AddReplicas
	age         = stagestatus.Age
)
