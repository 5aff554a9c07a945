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
		bad   bool
	}{
		{name: "all", value: "transcribe,answer,synthesize", want: AllStages},
		{name: "workflow order and no repeats", value: " synthesize, transcribe ,synthesize", want: []string{StageTranscribe, StageSynthesize}},
		{name: "one", value: "answer", want: []string{StageAnswer}},
		{name: "unknown", value: "answer,speak", bad: true},
		{name: "none", value: " , ", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var problems []string
			got := stagesFromEnv(tc.value, func(name, format string, args ...any) {
				problems = append(problems, name+": "+fmt.Sprintf(format, args...))
			})
			if tc.bad != (len(problems) > 0) {
				t.Fatalf("problems %q", problems)
			}
			if !tc.bad && !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
