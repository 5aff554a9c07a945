package streams

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Apply makes the server match set: it creates what is missing and updates what differs, in
// the order streams, consumers, buckets, and reports one Change per resource. Resources that
// already match are not written, so a second Apply reports everything unchanged and changes
// nothing. An update sends the whole definition, so fields the file does not set return to the
// server's defaults. Apply stops at the first error and returns the changes it made, including
// a write that did not converge.
//
// After each write the stored config is compared with the file again; a field the server
// normalises to another value fails with ErrNotConverged instead of being "updated" forever.
func Apply(ctx context.Context, js jetstream.JetStream, set *Set, opts ...Option) ([]Change, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, r := range set.resources(o) {
		ch, err := applyOne(ctx, js, r)
		if ch.Action != "" {
			changes = append(changes, ch)
		}
		if err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// applyOne sets the change's Action only once the server has accepted a write (or found
// nothing to write), so the caller knows whether to report it.
func applyOne(ctx context.Context, js jetstream.JetStream, r resource) (Change, error) {
	ch := r.describe()
	live, found, err := r.live(ctx, js)
	if err != nil {
		return ch, fmt.Errorf("reading %s: %w", ref(ch), err)
	}
	var after fields
	if !found {
		if after, err = r.create(ctx, js); err != nil {
			return ch, fmt.Errorf("creating %s: %w", ref(ch), err)
		}
		ch.Action = ActionCreated
	} else {
		ch.Fields = diffFields(r.want(), live)
		if len(ch.Fields) == 0 {
			ch.Action = ActionUnchanged
			return ch, nil
		}
		if after, err = r.update(ctx, js); err != nil {
			return ch, fmt.Errorf("updating %s: %w", ref(ch), err)
		}
		ch.Action = ActionUpdated
	}
	if rest := diffFields(r.want(), after); len(rest) > 0 {
		left := ch
		left.Action, left.Fields = ActionDiffers, rest
		return ch, fmt.Errorf("%w: %s", ErrNotConverged, left)
	}
	return ch, nil
}

// Diff compares set with the server without writing anything: each resource is missing,
// differs (with the fields) or unchanged. It takes the same options as Apply, so that a
// production diff compares against the replicas Apply would set.
func Diff(ctx context.Context, js jetstream.JetStream, set *Set, opts ...Option) ([]Change, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, r := range set.resources(o) {
		ch := r.describe()
		live, found, err := r.live(ctx, js)
		if err != nil {
			return changes, fmt.Errorf("reading %s: %w", ref(ch), err)
		}
		switch {
		case !found:
			ch.Action = ActionMissing
		default:
			ch.Fields = diffFields(r.want(), live)
			ch.Action = ActionUnchanged
			if len(ch.Fields) > 0 {
				ch.Action = ActionDiffers
			}
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// ref names a resource in errors: "stream AI_CHAT", "consumer AI_CHAT/chat-retrieve".
func ref(c Change) string {
	if c.Stream != "" {
		return fmt.Sprintf("%s %s/%s", c.Kind, c.Stream, c.Name)
	}
	return fmt.Sprintf("%s %s", c.Kind, c.Name)
}
