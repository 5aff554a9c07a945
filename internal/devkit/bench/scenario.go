package bench

import (
	"context"
	"strings"
)

// Scenario is one measurement of the benchmark issue. Run measures it on the harness (one
// embedded JetStream server for the whole run, fresh streams per measurement) and returns its
// rows, jetflow beside its bare-JetStream equivalent where there is one. It should alternate the
// sides over Config.Rounds and report medians, as overhead and hopLatency do.
//
// To add a scenario, implement Scenario in a file of its own and put it in Scenarios() in its
// place.
type Scenario interface {
	ID() string   // the scenario's number in the issue, "1".."6"
	Name() string // a short title for the table
	Run(ctx context.Context, h *Harness) ([]Row, error)
}

// Scenarios are every scenario, in the order.
func Scenarios() []Scenario {
	return []Scenario{
		overhead{},
		hopLatency{},
		chatThroughput{},
		chatScaleOut{},
		chatPeakRSS{},
		chatEndToEnd{},
	}
}

// scenarioID maps the names -scenarios accepts to the scenarios' numbers; numbers map to
// themselves.
func scenarioID(name string) string {
	switch name = strings.ToLower(strings.TrimSpace(name)); name {
	case "overhead":
		return "1"
	case "latency":
		return "2"
	case "chat":
		return "3"
	case "scale-out":
		return "4"
	case "rss":
		return "5"
	case "e2e":
		return "6"
	}
	return name
}

func scenarioNames() string { return "overhead, latency, chat, scale-out, rss, e2e" }

func lookupScenario(name string) Scenario {
	id := scenarioID(name)
	for _, s := range Scenarios() {
		if s.ID() == id {
			return s
		}
	}
	return nil
}
