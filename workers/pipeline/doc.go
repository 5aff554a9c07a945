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
// adopts the oldest one. When there is none, it claims the name by creating its key in the KV
// bucket RunsBucket (pipeline-runs): a KV create is atomic, so of two replicas handling one
// trigger at once (it was published twice, or an ack was lost) one wins, creates the run and
// records its id under the key, and the other waits for that id and adopts the run. A claim
// without a run id holds for twice the call timeout; after that the claimant is taken for dead,
// and the next replica looks the run up by name (adopting it if the claimant created it before
// dying) or takes the claim over. A create KFP refused releases the claim; after an ambiguous
// failure (no answer) the claim stays until its lease is over, for the run may exist. Entries
// expire after a day; past that, listing by name still finds the run.
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
