package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config says what to measure and how hard. The zero value is the full benchmark with the
// defaults given on each field.
type Config struct {
	// Scenarios to run, by number ("1") or name ("overhead"); empty means all six.
	Scenarios []string
	// Short shrinks every default below to a run of a few seconds, for the test suite and for a
	// quick look; the numbers of a short run are noisy.
	Short bool
	// Concurrency is the number of messages each stage (jetflow and bare alike) handles at once
	// and the most it holds unacknowledged. 0 means 16.
	Concurrency int
	// Rounds is how many times each measurement is repeated, alternating jetflow and bare, before
	// the median is taken. 0 means 5 (1 when Short): on a shared 2-core machine single drains of the
	// same code vary by 0.05 in ratio.
	Rounds int
	// Payloads are the request sizes of the stage-overhead scenario, in bytes of protobuf.
	// Empty means 256 B, 1 KiB, 4 KiB, 64 KiB and 512 KiB.
	Payloads []int
	// MaxMessages caps M, the messages pre-published for one drain run. 0 means 20000 (300 when
	// Short).
	MaxMessages int
	// ByteBudget bounds the bytes pre-published for one drain run, so large payloads use fewer
	// messages: M = ByteBudget / payload, within [20 × Concurrency (2 × when Short),
	// MaxMessages]. 0 means 64 MiB (2 MiB when Short).
	ByteBudget int
	// Rate is the request rate of the hop-latency scenario, in messages per second. 0 means 200.
	Rate int
	// Duration is how long one hop-latency run sends requests, after a warm-up of half a second
	// (a tenth when Short) that is not counted. 0 means 10s (1s when Short).
	Duration time.Duration
	// StoreDir is where the embedded server keeps its streams (file storage), to measure on a
	// chosen disk. Empty means a new temporary directory, removed at the end.
	StoreDir string
	// WorkerBin is the chat-handler binary scenarios 3-6 run as processes, or a directory
	// holding one (make binaries' bin/). Empty means build it once per run with go build, which
	// needs the module's source and the go command.
	WorkerBin string
	// URL is an external nats-server to measure against, as a deployed worker talks over TCP to
	// another process. Empty means the run's own server: Server says which.
	URL string
	// Server is the run's own server when URL is empty: ServerEmbedded (the default, in this
	// process) or ServerExternal (a nats-server process built from the version go.mod pins,
	// started for the run; its CPU time is added to CPU per message).
	Server string
	// Peers are other frameworks measured beside jetflow in scenarios 1 and 2 (bench/peers).
	Peers []Peer
	// EqualBound adds jetflow and bare at twice Concurrency to scenarios 1 and 2, as peers named
	// "jetflow@2c" and "bare@2c": the idiomatic loop holds up to 2 × Concurrency unacknowledged
	// messages (Concurrency read ahead, Concurrency waiting for publish acks), the runtime and
	// bare at most Concurrency, so these two compare them with it at the same bound.
	EqualBound bool
	// Logger receives progress. nil means none.
	Logger *slog.Logger
}

// The values of Config.Server.
const (
	ServerEmbedded = "embedded"
	ServerExternal = "external"
)

// Defaults of Config.
const (
	defaultConcurrency = 16
	defaultRounds      = 5
	defaultMaxMessages = 20000
	defaultByteBudget  = 64 << 20
	defaultRate        = 200
	defaultDuration    = 10 * time.Second

	shortRounds      = 1
	shortMaxMessages = 300
	shortByteBudget  = 2 << 20
	shortDuration    = time.Second
)

// DefaultPayloads are the request sizes the benchmark issue asks for.
func DefaultPayloads() []int { return []int{256, 1 << 10, 4 << 10, 64 << 10, 512 << 10} }

// maxPayloadSize keeps a request and its output, with headers, under the server's default
// 1 MiB max payload.
const maxPayloadSize = 1<<20 - 4<<10

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = defaultConcurrency
	}
	if c.Rounds == 0 {
		c.Rounds = defaultRounds
		if c.Short {
			c.Rounds = shortRounds
		}
	}
	if len(c.Payloads) == 0 {
		c.Payloads = DefaultPayloads()
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = defaultMaxMessages
		if c.Short {
			c.MaxMessages = shortMaxMessages
		}
	}
	if c.ByteBudget == 0 {
		c.ByteBudget = defaultByteBudget
		if c.Short {
			c.ByteBudget = shortByteBudget
		}
	}
	if c.Rate == 0 {
		c.Rate = defaultRate
	}
	if c.Duration == 0 {
		c.Duration = defaultDuration
		if c.Short {
			c.Duration = shortDuration
		}
	}
	if c.Server == "" {
		c.Server = ServerEmbedded
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Concurrency < 0 || c.Concurrency > 10000 {
		errs = append(errs, fmt.Errorf("concurrency %d is outside [0, 10000]", c.Concurrency))
	}
	if c.Rounds < 0 || c.Rounds > 100 {
		errs = append(errs, fmt.Errorf("rounds %d is outside [0, 100]", c.Rounds))
	}
	for _, p := range c.Payloads {
		if p < minPayloadSize || p > maxPayloadSize {
			errs = append(errs, fmt.Errorf("payload size %d is outside [%d, %d]", p, minPayloadSize, maxPayloadSize))
		} else if _, ok := requestValueLen(p); !ok {
			below, above := nearestRequestSizes(p)
			errs = append(errs, fmt.Errorf("payload size %d cannot be encoded exactly; use %d or %d (the protobuf length prefix grows by a byte there)",
				p, below, above))
		}
	}
	if c.MaxMessages < 0 || c.ByteBudget < 0 {
		errs = append(errs, errors.New("message counts and byte budgets must not be negative"))
	}
	if c.Rate < 0 || c.Rate > 100000 {
		errs = append(errs, fmt.Errorf("rate %d is outside [0, 100000]", c.Rate))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration %v is negative", c.Duration))
	}
	if c.Server != "" && c.Server != ServerEmbedded && c.Server != ServerExternal {
		errs = append(errs, fmt.Errorf("server %q is neither %s nor %s", c.Server, ServerEmbedded, ServerExternal))
	}
	if c.URL != "" && c.Server == ServerExternal {
		errs = append(errs, errors.New("a URL and a server to start are exclusive"))
	}
	for _, p := range c.Peers {
		if p.Name == "" || p.Serve == nil || p.Name == sideJetflow || p.Name == sideBare || p.Name == sideIdiomatic ||
			(c.EqualBound && (p.Name == sideJetflowAt2c || p.Name == sideBareAt2c)) {
			errs = append(errs, fmt.Errorf("peer %q needs a name of its own and a Serve function", p.Name))
		}
	}
	for _, s := range c.Scenarios {
		if lookupScenario(s) == nil {
			errs = append(errs, fmt.Errorf("unknown scenario %q (want 1-6 or one of %s)", s, scenarioNames()))
		}
	}
	return errors.Join(errs...)
}

// messagesFor is M for one drain run of payload bytes: enough to fill the stage's slots many
// times over, within the byte budget where that allows.
func (c Config) messagesFor(payload int) int {
	least := 20 * c.Concurrency
	if c.Short {
		least = 2 * c.Concurrency
	}
	return min(max(c.ByteBudget/payload, least), c.MaxMessages)
}

// warmUp is the part of a hop-latency run that is sent but not counted: the first requests
// meet cold caches and a stage that is still binding to its consumer.
func (c Config) warmUp() time.Duration {
	if c.Short {
		return 100 * time.Millisecond
	}
	return 500 * time.Millisecond
}
