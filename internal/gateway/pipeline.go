package gateway

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
)

// pipelineService publishes PipelineTriggers to ai.pipeline.trigger (pipeline-bridge) and
// streams the statuses stored on ai.result.pipeline.<request_id>.
type pipelineService struct{ s *Server }

// Trigger streams every status the bridge stores, in order, until a final phase. The call's
// deadline bounds only the wait: a run outlives the call that started it, and its statuses
// stay readable in AI_RESULTS for an hour (a retry with the same request_id reads them).
func (p pipelineService) Trigger(ctx context.Context, in *jetflowv1.TriggerRequest, out *connect.ServerStream[jetflowv1.TriggerResponse]) error {
	req := in.GetTrigger()
	p.s.prepare(ctx, &req.UserId, &req.Deadline)
	return p.s.call(ctx, pipelineCall, req, func(raw *jetstream.RawStreamMsg) (bool, error) {
		status := &jetflowv1.PipelineStatus{}
		if err := decodeResult(raw, status); err != nil {
			return false, err
		}
		if err := out.Send(&jetflowv1.TriggerResponse{Status: status}); err != nil {
			return false, fmt.Errorf("sending status %s: %w", status.GetPhase(), err)
		}
		return finalPhase(status.GetPhase()), nil
	})
}

func finalPhase(p jetflowv1.PipelineStatus_Phase) bool {
	switch p {
	case jetflowv1.PipelineStatus_PHASE_SUCCEEDED, jetflowv1.PipelineStatus_PHASE_FAILED, jetflowv1.PipelineStatus_PHASE_ERROR:
		return true
	}
	return false
}
