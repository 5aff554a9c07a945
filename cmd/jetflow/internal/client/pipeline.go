package client

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/connect"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/proto/jetflow/v1/jetflowv1connect"
)

// PipelineUsage is the help of `jetflow pipeline`.
const PipelineUsage = `jetflow pipeline start [flags] NAME [KEY=VALUE...]: start a run of an allow-listed pipeline
through the gateway and print its status as it changes, until it ends. Exit status 0 when the
run SUCCEEDED, 1 when it FAILED or ended in ERROR (or the call failed).

  jetflow pipeline start reindex collection=docs since=2026-01-01
  jetflow pipeline start --request-id nightly-2026-12-03 reindex
` + envHelp

var (
	pipelineName = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)
	parameterKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)
)

// Pipeline runs `jetflow pipeline ARGS`.
func Pipeline(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageErrorf("jetflow pipeline needs a command: jetflow pipeline start NAME [KEY=VALUE...] (see jetflow pipeline --help)")
	}
	switch args[0] {
	case "start":
		return pipelineStart(ctx, args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, PipelineUsage)
		return flag.ErrHelp
	}
	return usageErrorf("unknown pipeline command %q: the command is start (see jetflow pipeline --help)", args[0])
}

func pipelineStart(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("jetflow pipeline start", flag.ContinueOnError)
	gwFlags := addGatewayFlags(fs, 30*time.Minute)
	requestID := fs.String("request-id", "", "request id; the same id again attaches to the same run instead of starting another (default: a new one)")
	rest, err := parseArgs(fs, args, env.Stdout, PipelineUsage)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageErrorf("jetflow pipeline start needs the pipeline's name: jetflow pipeline start NAME [KEY=VALUE...]")
	}
	name := rest[0]
	if !pipelineName.MatchString(name) {
		return usageErrorf("pipeline name %q must match [a-z0-9-]{1,63}", name)
	}
	params, err := parameters(rest[1:])
	if err != nil {
		return err
	}
	gw, err := gwFlags.resolve(env)
	if err != nil {
		return err
	}
	id := *requestID
	if id == "" {
		id = newRequestID("cli")
	}
	ctx, cancel := context.WithTimeout(ctx, gw.timeout)
	defer cancel()
	pipelines := jetflowv1connect.NewPipelineServiceClient(gw.httpClient(), gw.url)
	stream, err := pipelines.Trigger(ctx, &jetflowv1.TriggerRequest{Trigger: &jetflowv1.PipelineTrigger{
		RequestId: id, Pipeline: name, Parameters: params,
	}})
	if err != nil {
		return callError("starting the pipeline", gw, err)
	}
	defer stream.Close()
	var phase jetflowv1.PipelineStatus_Phase
	seen := 0
	for stream.Receive() {
		st := stream.Msg().GetStatus()
		phase = st.GetPhase()
		seen++
		fmt.Fprintln(env.Stdout, statusLine(st))
	}
	if err := stream.Err(); err != nil {
		if seen == 0 && connect.CodeOf(err) == connect.CodeDeadlineExceeded {
			return fmt.Errorf("starting the pipeline: no status within --timeout %s: is pipeline-bridge running? "+
				"(jetflow dev runs it only when PIPELINES_FILE is set; jetflow status shows its consumer) (%w)", gw.timeout, err)
		}
		if seen == 0 {
			return callError("starting the pipeline", gw, err)
		}
		return callError("following the run", gw, err)
	}
	switch phase {
	case jetflowv1.PipelineStatus_PHASE_SUCCEEDED:
		return nil
	case jetflowv1.PipelineStatus_PHASE_FAILED, jetflowv1.PipelineStatus_PHASE_ERROR:
		return fmt.Errorf("%w: it ended %s (request %s)", ErrRunFailed, phaseName(phase), id)
	}
	return fmt.Errorf("the gateway ended the call while the run was %s (request %s): run the same command with --request-id %s to follow it again",
		phaseName(phase), id, id)
}

// parameters reads KEY=VALUE arguments.
func parameters(args []string) (map[string]string, error) {
	if len(args) > 64 {
		return nil, usageErrorf("at most 64 parameters, got %d", len(args))
	}
	params := make(map[string]string, len(args))
	for _, a := range args {
		key, value, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return nil, usageErrorf("parameter %q is not KEY=VALUE", a)
		case !parameterKey.MatchString(key):
			return nil, usageErrorf("parameter name %q must match [A-Za-z_][A-Za-z0-9_-]{0,63}", key)
		case len(value) > 4096:
			return nil, usageErrorf("parameter %s is %d bytes; at most 4096", key, len(value))
		}
		if _, dup := params[key]; dup {
			return nil, usageErrorf("parameter %s is given twice", key)
		}
		params[key] = value
	}
	return params, nil
}

// statusLine is one status change: the phase, the run and the backend's message.
func statusLine(st *jetflowv1.PipelineStatus) string {
	line := fmt.Sprintf("%-9s %s", phaseName(st.GetPhase()), st.GetPipeline())
	if st.GetRunName() != "" {
		line += fmt.Sprintf(" run %s", st.GetRunName())
	}
	if st.GetBackend() != "" {
		line += fmt.Sprintf(" (%s)", st.GetBackend())
	}
	if st.GetMessage() != "" {
		line += ": " + st.GetMessage()
	}
	return line
}

func phaseName(p jetflowv1.PipelineStatus_Phase) string {
	return strings.TrimPrefix(p.String(), "PHASE_")
}
