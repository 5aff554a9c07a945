package voice

import (
	"fmt"
	"slices"
	"testing"
)

func TestStagesFromEnv(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []string
		// problem is what the one problem reported says; empty means none.
		problem string
	}{
		{name: "all", value: "transcribe,answer,synthesize", want: AllStages},
		{name: "workflow order and no repeats", value: " synthesize, transcribe ,synthesize", want: []string{StageTranscribe, StageSynthesize}},
		{name: "one", value: "answer", want: []string{StageAnswer}},
		{name: "unknown", value: "answer,speak", problem: `VOICE_STAGES: "speak" is not transcribe, answer or synthesize`},
		{name: "none", value: " , ", problem: "VOICE_STAGES: names no stage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var problems []string
			got := stagesFromEnv(tc.value, func(name, format string, args ...any) {
				problems = append(problems, name+": "+fmt.Sprintf(format, args...))
			})
			if (tc.problem == "" && len(problems) > 0) || (tc.problem != "" && !slices.Equal(problems, []string{tc.problem})) {
				t.Fatalf("problems %q, want %q", problems, tc.problem)
			}
			if tc.problem == "" && !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
