package stage

// Headers the runtime reads and writes. They are part of the operator contract: dead letters
// carry them, and `nats stream view AI_DLQ` shows them.
const (
	// HeaderContentType selects the payload encoding: "application/json" means protojson, anything
	// else (or none) means binary protobuf. Outputs use the encoding of their input.
	HeaderContentType = "Content-Type"
	// HeaderType names the payload's protobuf message (for example jetflow.v1.ChatRequest). When
	// an input carries it and it names another message, the input is dead-lettered.
	HeaderType = "Jetflow-Type"
	// HeaderRequestID repeats the request id of the input on its outputs, for tracing by hand.
	HeaderRequestID = "Jetflow-Request-Id"
	// HeaderRequeuedFrom is set on a message the runtime put back into its stream because its
	// work could not be attempted (an open circuit breaker): "<stream>:<sequence>" of the
	// original. Outputs keep the original's identity, so a copy and its original never both
	// produce a result.
	HeaderRequeuedFrom = "Jetflow-Requeued-From"
	// HeaderAttempts carries, on a requeued copy, how many times the original and earlier copies
	// were really attempted, so the delivery budget (max_deliver) spans the copies and a message
	// that breaks its upstream every time is still dead-lettered.
	HeaderAttempts = "Jetflow-Attempts"

	// Dead-letter headers, added to the original headers of the failed message.
	HeaderError           = "Jetflow-Error"            // why it failed, in words
	HeaderErrorKind       = "Jetflow-Error-Kind"       // permanent | exhausted | max-deliveries
	HeaderStage           = "Jetflow-Stage"            // the stage that gave up
	HeaderOriginalSubject = "Jetflow-Original-Subject" // where to publish it to replay it
	HeaderOriginalStream  = "Jetflow-Original-Stream"  // the stream it was read from
	HeaderStreamSeq       = "Jetflow-Stream-Seq"       // its sequence in that stream
	// HeaderDeliveries is how many times the message's work was attempted (DeadLetter.Deliveries):
	// for the runtime's dead letters the attempts across every copy it was requeued as (a
	// delivery refused by an open breaker does not count), which is the count max_deliver is
	// held against; for a max-deliveries dead letter the server's delivery count. The name says
	// deliveries for the operators' scripts that read it.
	HeaderDeliveries    = "Jetflow-Deliveries"
	HeaderFailedAt      = "Jetflow-Failed-At"       // RFC 3339 time of the dead-lettering
	HeaderOriginalMsgID = "Jetflow-Original-Msg-Id" // the original Nats-Msg-Id, if any
	// HeaderPayloadTruncated is set, to the original payload size in bytes, on the rare dead letter
	// whose payload had to be cut to fit the server's max payload.
	HeaderPayloadTruncated = "Jetflow-Payload-Truncated"

	contentTypeJSON     = "application/json"
	contentTypeProtobuf = "application/protobuf"
)

// Error kinds in HeaderErrorKind.
const (
	KindPermanent     = "permanent"      // the handler or decoder said the message can never succeed
	KindExhausted     = "exhausted"      // retryable failures used up max_deliver
	KindMaxDeliveries = "max-deliveries" // the server gave up without the runtime seeing it (crash, hang)
)
