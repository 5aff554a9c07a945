package streams

import "fmt"

// Option tunes Apply and Diff.
type Option func(*options) error

type options struct {
	// replicas overrides num_replicas of streams and buckets; 0 keeps the files' value.
	replicas int
}

// WithReplicas sets num_replicas of every stream and KV bucket to n (1 to 5), for Apply and
// Diff alike. The files say 1 so that they apply to a single server (dev, tests); a production
// cluster passes 3. Consumers inherit their stream's replicas.
func WithReplicas(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("%w: replicas %d, want 1 to 5", ErrInvalidOption, n)
		}
		o.replicas = n
		return nil
	}
}

func newOptions(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}
