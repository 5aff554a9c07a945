// Package pipeline is the pipeline-bridge worker: it turns PipelineTrigger messages into runs of
// allow-listed pipelines, either an Argo Workflow created from a WorkflowTemplate (through the
// client-go dynamic client) or a Kubeflow Pipelines v2 run (through the KFP REST API), follows
// the run, and publishes a PipelineStatus on ai.result.pipeline.<request_id> at each change of
// phase.
//
// Nothing outside the allow-list can start: a trigger naming an unknown pipeline, an unknown
// parameter, missing a required one or carrying a value its pattern refuses is dead-lettered with
// the reason, before any call to Kubernetes or KFP.
//
// A redelivered trigger never starts a second run. The run's name is derived from the request
// id (RunName): Argo answers a second create with AlreadyExists and the bridge adopts the
// existing Workflow after checking it was made for the same request; for KFP, which has no
// unique names, the bridge first lists runs whose display_name equals the derived name and
// adopts the oldest one. The KFP check-then-create is not atomic: two replicas handling the same
// trigger at the same moment (possible only after an ack was lost) could both create. JetStream
// gives a message to one consumer at a time and the runtime keeps it with InProgress, so this
// needs a crash at the wrong moment; the Argo path has no such window.
//
// Following a run: the bridge polls the run every PollInterval and emits a status whenever the
// phase changes (Key = the phase, so a redelivered trigger does not repeat one). The terminal
// status is returned as the handler's output with Key "final", published before the trigger is
// acked. Transient errors while polling do not cost a delivery: the bridge keeps polling until
// Timeout. When Timeout passes first, the final status carries the last phase seen and a
// message saying the bridge stopped following; the run itself goes on. The trigger's deadline
// bounds only the start of the run (as its documentation says), not the following of it.
//
// Slots: each followed run holds one of the stage's Concurrency slots until it ends, so
// Concurrency is the number of runs one replica follows at once (polling costs little; raise it
// rather than the replica count when many long pipelines run).
package pipeline

// MaxTriggerBytes is the largest trigger the stage decodes: 64 parameters of at most 4 KiB each
// (jetflowv1.MaxParameters, MaxParameterValueBytes) with room for their names.
const MaxTriggerBytes = 320 << 10
