package streams

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Directories of the definition files, relative to the root of the file system.
const (
	dirStream   = "stream"
	dirConsumer = "consumer"
	dirKV       = "kv"
)

// definitions is the package's own directory tree of JSON files.
//
//go:embed stream consumer kv
var definitions embed.FS

// Files returns the embedded definition files (stream/, consumer/<STREAM>/, kv/) for tools that
// hand them on unchanged, such as manifest generators.
func Files() fs.FS { return definitions }

// Load parses and validates the embedded definitions.
func Load() (*Set, error) { return LoadFS(definitions) }

// LoadFS parses and validates the definitions in fsys, laid out as stream/<NAME>.json,
// consumer/<STREAM>/<NAME>.json and kv/<BUCKET>.json. Anything outside those three
// directories is ignored; anything else inside them is an error. Every problem found is
// reported, each wrapping ErrInvalidDefinition.
func LoadFS(fsys fs.FS) (*Set, error) {
	l := &loader{fsys: fsys, set: &Set{}}
	for _, dir := range []string{dirStream, dirConsumer, dirKV} {
		err := fs.WalkDir(fsys, dir, l.visit)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading definitions: %w", err)
		}
	}
	if len(l.errs) == 0 {
		l.crossCheck()
	}
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	s := l.set
	slices.SortFunc(s.streams, func(a, b streamDef) int { return cmp.Compare(a.cfg.Name, b.cfg.Name) })
	slices.SortFunc(s.consumers, func(a, b consumerDef) int {
		return cmp.Or(cmp.Compare(a.stream, b.stream), cmp.Compare(a.cfg.Durable, b.cfg.Durable))
	})
	slices.SortFunc(s.buckets, func(a, b bucketDef) int { return cmp.Compare(a.cfg.Bucket, b.cfg.Bucket) })
	return s, nil
}

type loader struct {
	fsys fs.FS
	set  *Set
	errs []error
}

func (l *loader) fail(file string, err error) {
	l.errs = append(l.errs, fmt.Errorf("%w: %s: %w", ErrInvalidDefinition, file, err))
}

func (l *loader) visit(p string, d fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	parts := strings.Split(p, "/")
	if d.IsDir() {
		if len(parts) == 1 || (parts[0] == dirConsumer && len(parts) == 2) {
			return nil
		}
		l.fail(p, errors.New("unexpected directory"))
		return fs.SkipDir
	}
	base, ok := strings.CutSuffix(path.Base(p), ".json")
	if !ok {
		l.fail(p, errors.New("unexpected file: definitions are .json files"))
		return nil
	}
	data, err := fs.ReadFile(l.fsys, p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	switch {
	case parts[0] == dirStream && len(parts) == 2:
		l.addStream(p, base, data)
	case parts[0] == dirConsumer && len(parts) == 3:
		l.addConsumer(p, parts[1], base, data)
	case parts[0] == dirKV && len(parts) == 2:
		l.addBucket(p, base, data)
	default:
		l.fail(p, errors.New("unexpected file: want stream/<NAME>.json, consumer/<STREAM>/<NAME>.json or kv/<BUCKET>.json"))
	}
	return nil
}

func (l *loader) addStream(file, base string, data []byte) {
	var cfg jetstream.StreamConfig
	f, err := decodeDefinition(data, &cfg)
	if err == nil {
		err = checkStream(cfg, base)
	}
	if err != nil {
		l.fail(file, err)
		return
	}
	l.set.streams = append(l.set.streams, streamDef{file: file, cfg: cfg, fields: f})
}

func (l *loader) addConsumer(file, stream, base string, data []byte) {
	var cfg jetstream.ConsumerConfig
	f, err := decodeDefinition(data, &cfg)
	if err == nil {
		err = checkConsumer(cfg, base)
	}
	if err != nil {
		l.fail(file, err)
		return
	}
	l.set.consumers = append(l.set.consumers, consumerDef{file: file, stream: stream, cfg: cfg, fields: f})
}

func (l *loader) addBucket(file, base string, data []byte) {
	var cfg jetstream.KeyValueConfig
	f, err := decodeDefinition(data, &cfg)
	if err == nil {
		err = checkBucket(cfg, base)
	}
	if err != nil {
		l.fail(file, err)
		return
	}
	l.set.buckets = append(l.set.buckets, bucketDef{file: file, cfg: cfg, fields: f})
}

func checkStream(cfg jetstream.StreamConfig, base string) error {
	switch {
	case cfg.Name != base:
		return fmt.Errorf("name %q differs from the file name %q", cfg.Name, base)
	case len(cfg.Subjects) == 0 && cfg.Mirror == nil && len(cfg.Sources) == 0:
		return errors.New("no subjects, mirror or sources: the stream would never receive a message")
	}
	return nil
}

func checkConsumer(cfg jetstream.ConsumerConfig, base string) error {
	switch {
	case cfg.Durable != base:
		return fmt.Errorf("durable_name %q differs from the file name %q", cfg.Durable, base)
	case cfg.Name != "" && cfg.Name != cfg.Durable:
		return fmt.Errorf("name %q differs from durable_name %q", cfg.Name, cfg.Durable)
	case cfg.DeliverSubject != "" || cfg.DeliverGroup != "":
		return errors.New("push consumer: every stage is a pull consumer, remove deliver_subject and deliver_group")
	case cfg.FilterSubject == "" && len(cfg.FilterSubjects) == 0:
		return errors.New("no filter_subject or filter_subjects: a stage consumes named subjects only")
	}
	return nil
}

func checkBucket(cfg jetstream.KeyValueConfig, base string) error {
	switch {
	case cfg.Bucket != base:
		return fmt.Errorf("bucket %q differs from the file name %q", cfg.Bucket, base)
	case cfg.Mirror != nil || len(cfg.Sources) > 0 || cfg.RePublish != nil:
		// nats.go rewrites these (names, subject transforms) into the backing stream, so the
		// live value cannot be compared with the file's; none of our buckets needs them.
		return errors.New("mirror, sources and republish are not supported in bucket definitions")
	case int(cfg.History) > jetstream.KeyValueMaxHistory:
		return fmt.Errorf("history %d exceeds the maximum %d", cfg.History, jetstream.KeyValueMaxHistory)
	}
	return nil
}

// crossCheck applies the rules that involve more than one file, most of which the server would
// only report halfway through an Apply.
func (l *loader) crossCheck() {
	streams := make(map[string]streamDef, len(l.set.streams))
	for _, s := range l.set.streams {
		streams[s.cfg.Name] = s
	}
	for i, a := range l.set.streams {
		for _, b := range l.set.streams[i+1:] {
			for _, sa := range a.cfg.Subjects {
				for _, sb := range b.cfg.Subjects {
					if subjectsOverlap(sa, sb) {
						l.fail(b.file, fmt.Errorf("subject %q overlaps %q of stream %s", sb, sa, a.cfg.Name))
					}
				}
			}
		}
	}
	for _, b := range l.set.buckets {
		if s, ok := streams[kvStreamPrefix+b.cfg.Bucket]; ok {
			l.fail(s.file, fmt.Errorf("stream name is the backing stream of bucket %s", b.cfg.Bucket))
		}
	}
	seen := make(map[string]string, len(l.set.consumers))
	for i, c := range l.set.consumers {
		name := c.cfg.Durable
		if other, dup := seen[name]; dup {
			l.fail(c.file, fmt.Errorf("consumer name %q is also used by %s: names are unique across streams", name, other))
		}
		seen[name] = c.file
		s, ok := streams[c.stream]
		if !ok {
			l.fail(c.file, fmt.Errorf("stream %s has no definition (stream/%s.json)", c.stream, c.stream))
			continue
		}
		for _, f := range consumerFilters(c.cfg) {
			if !subjectCovered(f, s.cfg.Subjects) {
				l.fail(c.file, fmt.Errorf("filter %q is not within the subjects %q of stream %s", f, s.cfg.Subjects, s.cfg.Name))
			}
		}
		if s.cfg.Retention != jetstream.WorkQueuePolicy {
			continue
		}
		for _, o := range l.set.consumers[i+1:] {
			if o.stream != c.stream {
				continue
			}
			for _, f := range consumerFilters(c.cfg) {
				for _, g := range consumerFilters(o.cfg) {
					if subjectsOverlap(f, g) {
						l.fail(o.file, fmt.Errorf("filter %q overlaps %q of %s: consumers of a work-queue stream must not share subjects", g, f, name))
					}
				}
			}
		}
	}
}

func consumerFilters(c jetstream.ConsumerConfig) []string {
	if c.FilterSubject != "" {
		return append([]string{c.FilterSubject}, c.FilterSubjects...)
	}
	return c.FilterSubjects
}
