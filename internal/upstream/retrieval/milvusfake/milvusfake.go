// Package milvusfake is a behavioural fake of a Milvus 2.6 server, served over real gRPC on a
// loopback port, so the retriever and the Milvus SDK (milvus/client/v2, the retriever's test
// oracle) can be tested end to end without a Milvus deployment (the build machines have no
// Docker). It records every request with its metadata, so a test can compare what two clients
// put on the wire. It implements the RPCs a search makes,
// Connect, DescribeCollection and Search, with an exact search over fixed collections, and
// answers the way Milvus does: merr status codes for a missing collection (100) or an invalid
// parameter (1100: wrong vector dimension, metric, field, or a filter it cannot parse). Tests
// can make it fail searches with any status, slow it down, require credentials, or stop it.
//
// Filters are what retrieval.ParseFilter understands: `field == "value"` on a scalar field.
package milvusfake

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/v2/util/merr"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval"
)

// Collection is one collection the fake serves. Its schema is derived from it: a primary key,
// a text field, a float-vector field and one VarChar field per metadata key.
type Collection struct {
	Name string
	// Dim is the vector dimension; zero means that of the first record.
	Dim int
	// Metric is the index's metric: "COSINE" (the default), "IP" or "L2". Like Milvus, a search
	// naming another metric is refused.
	Metric string
	// Field names; zero means "id", "text" and "embedding".
	IDField, TextField, VectorField string
	// Int64IDs makes the primary key an Int64 field (every record ID must be a decimal number)
	// instead of a VarChar.
	Int64IDs bool
	Records  []retrieval.Record
}

type collection struct {
	Collection
	id       int64
	metaKeys []string // sorted
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	milvuspb.UnimplementedMilvusServiceServer

	lis  net.Listener
	grpc *grpc.Server
	done chan struct{} // closed when Serve returns
	stop sync.Once

	mu           sync.Mutex
	collections  map[string]*collection
	searchStatus *commonpb.Status
	delay        time.Duration
	token        string // expected authorization credential, "" = none
	calls        []string
	traceparents []string
	requests     []Request
	lastSearch   *milvuspb.SearchRequest
}

// Request is one call the fake received.
type Request struct {
	// Method is the RPC's name ("Search").
	Method string
	// Message is a copy of the request (*milvuspb.SearchRequest, ...).
	Message proto.Message
	// Metadata is what the client sent with it ("authorization", "dbname", ...).
	Metadata metadata.MD
}

// Start serves collections on a loopback port until the test ends.
func Start(t testing.TB, collections ...Collection) *Server {
	t.Helper()
	s := &Server{collections: map[string]*collection{}, done: make(chan struct{})}
	for i, c := range collections {
		cc, err := newCollection(c, int64(i+1))
		if err != nil {
			t.Fatalf("milvusfake: collection %q: %v", c.Name, err)
		}
		s.collections[c.Name] = cc
	}
	lis, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("milvusfake: listening: %v", err)
	}
	s.lis = lis
	s.grpc = grpc.NewServer(
		grpc.UnaryInterceptor(s.intercept),
		// Milvus' own policy: the SDK pings every 5 s, also without active calls.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	milvuspb.RegisterMilvusServiceServer(s.grpc, s)
	go func() {
		defer close(s.done)
		_ = s.grpc.Serve(lis) // returns nil after Stop
	}()
	t.Cleanup(s.Stop)
	return s
}

func newCollection(c Collection, id int64) (*collection, error) {
	c.Metric = cmp.Or(strings.ToUpper(c.Metric), "COSINE")
	c.IDField = cmp.Or(c.IDField, "id")
	c.TextField = cmp.Or(c.TextField, "text")
	c.VectorField = cmp.Or(c.VectorField, "embedding")
	if c.Dim == 0 && len(c.Records) > 0 {
		c.Dim = len(c.Records[0].Vector)
	}
	switch {
	case c.Name == "":
		return nil, fmt.Errorf("no name")
	case c.Dim <= 0:
		return nil, fmt.Errorf("no dimension")
	case c.Metric != "COSINE" && c.Metric != "IP" && c.Metric != "L2":
		return nil, fmt.Errorf("metric %q", c.Metric)
	}
	keys := map[string]bool{}
	for _, r := range c.Records {
		if len(r.Vector) != c.Dim {
			return nil, fmt.Errorf("record %q has dimension %d, want %d", r.ID, len(r.Vector), c.Dim)
		}
		if _, err := strconv.ParseInt(r.ID, 10, 64); c.Int64IDs && err != nil {
			return nil, fmt.Errorf("record id %q is not an int64", r.ID)
		}
		for k := range r.Metadata {
			keys[k] = true
		}
	}
	for _, reserved := range []string{c.IDField, c.TextField, c.VectorField} {
		if keys[reserved] {
			return nil, fmt.Errorf("metadata key %q clashes with a field", reserved)
		}
	}
	c.Records = slices.Clone(c.Records)
	return &collection{Collection: c, id: id, metaKeys: slices.Sorted(maps.Keys(keys))}, nil
}

// Addr is the host:port to give the SDK.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Stop closes the listener and every connection, making the server unavailable; the SDK then
// sees gRPC Unavailable. It waits for the serving goroutine and may be called more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.grpc.Stop()
		<-s.done
	})
}

// FailSearches makes every Search answer with st (a non-success Milvus status, for example
// merr.Status(merr.ErrServiceRateLimit)); nil restores normal answers.
func (s *Server) FailSearches(st *commonpb.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.searchStatus = st
}

// SetDelay makes every Search wait d (or until the caller gives up) before answering.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// RequireAuth makes every call present credential ("user:password" or an API key) the way the
// SDK sends it, base64 in the "authorization" header, or fail with gRPC Unauthenticated.
func (s *Server) RequireAuth(credential string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = credential
}

// Calls returns the RPC method names received so far, in order ("DescribeCollection", ...).
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// LastSearch returns the last SearchRequest received, or nil.
func (s *Server) LastSearch() *milvuspb.SearchRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastSearch == nil {
		return nil
	}
	return proto.Clone(s.lastSearch).(*milvuspb.SearchRequest)
}

// Requests returns every call received so far, in order, with its request and metadata.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Method: r.Method, Message: proto.Clone(r.Message), Metadata: r.Metadata.Copy()}
	}
	return out
}

// Traceparents returns the traceparent metadata of each call received so far, in order ("" for
// a call without one), as a Milvus proxy with tracing on would read them.
func (s *Server) Traceparents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.traceparents)
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	s.mu.Lock()
	s.calls = append(s.calls, method)
	if msg, ok := req.(proto.Message); ok {
		s.requests = append(s.requests, Request{Method: method, Message: proto.Clone(msg), Metadata: md.Copy()})
	}
	s.traceparents = append(s.traceparents, strings.Join(md.Get("traceparent"), ","))
	token := s.token
	s.mu.Unlock()
	if token != "" {
		want := base64.StdEncoding.EncodeToString([]byte(token))
		if got := md.Get("authorization"); len(got) != 1 || got[0] != want {
			return nil, status.Error(codes.Unauthenticated, "auth check failure, please check username/password or token")
		}
	}
	return handler(ctx, req)
}

// Connect answers the SDK's handshake.
func (s *Server) Connect(ctx context.Context, req *milvuspb.ConnectRequest) (*milvuspb.ConnectResponse, error) {
	return &milvuspb.ConnectResponse{
		Status:     merr.Success(),
		ServerInfo: &commonpb.ServerInfo{BuildTags: "milvusfake"},
		Identifier: 1,
	}, nil
}

// DescribeCollection returns the derived schema, or Milvus' "collection not found".
func (s *Server) DescribeCollection(ctx context.Context, req *milvuspb.DescribeCollectionRequest) (*milvuspb.DescribeCollectionResponse, error) {
	s.mu.Lock()
	c, ok := s.collections[req.GetCollectionName()]
	s.mu.Unlock()
	if !ok {
		return &milvuspb.DescribeCollectionResponse{Status: merr.Status(merr.WrapErrCollectionNotFound(req.GetCollectionName()))}, nil
	}
	return &milvuspb.DescribeCollectionResponse{
		Status:           merr.Success(),
		Schema:           c.schema(),
		CollectionID:     c.id,
		CollectionName:   c.Name,
		ShardsNum:        1,
		ConsistencyLevel: commonpb.ConsistencyLevel_Bounded,
	}, nil
}

func (c *collection) schema() *schemapb.CollectionSchema {
	kv := func(k, v string) []*commonpb.KeyValuePair { return []*commonpb.KeyValuePair{{Key: k, Value: v}} }
	pk := &schemapb.FieldSchema{FieldID: 100, Name: c.IDField, IsPrimaryKey: true, DataType: schemapb.DataType_VarChar, TypeParams: kv("max_length", "512")}
	if c.Int64IDs {
		pk = &schemapb.FieldSchema{FieldID: 100, Name: c.IDField, IsPrimaryKey: true, DataType: schemapb.DataType_Int64}
	}
	fields := make([]*schemapb.FieldSchema, 0, 3+len(c.metaKeys))
	fields = append(fields,
		pk,
		&schemapb.FieldSchema{FieldID: 101, Name: c.TextField, DataType: schemapb.DataType_VarChar, TypeParams: kv("max_length", "65535")},
		&schemapb.FieldSchema{FieldID: 102, Name: c.VectorField, DataType: schemapb.DataType_FloatVector, TypeParams: kv("dim", strconv.Itoa(c.Dim))},
	)
	for i, k := range c.metaKeys {
		fields = append(fields, &schemapb.FieldSchema{FieldID: int64(103 + i), Name: k, DataType: schemapb.DataType_VarChar, TypeParams: kv("max_length", "65535")})
	}
	return &schemapb.CollectionSchema{Name: c.Name, Fields: fields}
}

// field returns a record's scalar value by field name, and whether the schema has the field.
func (c *collection) field(r *retrieval.Record, name string) (string, bool) {
	switch name {
	case c.IDField:
		return r.ID, true
	case c.TextField:
		return r.Text, true
	}
	if _, ok := slices.BinarySearch(c.metaKeys, name); ok {
		return r.Metadata[name], true
	}
	return "", false
}

func invalid(format string, args ...any) *milvuspb.SearchResults {
	return &milvuspb.SearchResults{Status: merr.Status(merr.WrapErrParameterInvalidMsg(format, args...))}
}

// Search runs an exact search.
func (s *Server) Search(ctx context.Context, req *milvuspb.SearchRequest) (*milvuspb.SearchResults, error) {
	s.mu.Lock()
	s.lastSearch = proto.Clone(req).(*milvuspb.SearchRequest)
	failWith, delay := s.searchStatus, s.delay
	c, ok := s.collections[req.GetCollectionName()]
	s.mu.Unlock()

	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if failWith != nil {
		return &milvuspb.SearchResults{Status: failWith}, nil
	}
	if !ok {
		return &milvuspb.SearchResults{Status: merr.Status(merr.WrapErrCollectionNotFound(req.GetCollectionName()))}, nil
	}

	params := map[string]string{}
	for _, kv := range req.GetSearchParams() {
		params[kv.GetKey()] = kv.GetValue()
	}
	if f := params["anns_field"]; f != "" && f != c.VectorField {
		return invalid("failed to get field schema by name: fieldName(%s) not found", f), nil
	}
	topK, ok := parseTopK(params["topk"])
	if !ok {
		return invalid("topk [%s] is invalid, it should be in range [1, %d]", params["topk"], retrieval.MaxTopK), nil
	}
	if m := strings.ToUpper(params["metric_type"]); m != "" && m != c.Metric {
		return invalid("metric type not match: invalid parameter[expected=%s][actual=%s]", c.Metric, m), nil
	}
	filter, ok := parseFilter(req.GetDsl())
	if !ok {
		return invalid("failed to create query plan: cannot parse expression: %s", req.GetDsl()), nil
	}
	if filter.Key != "" {
		if _, ok := c.field(&retrieval.Record{}, filter.Key); !ok {
			return invalid("failed to create query plan: cannot parse expression: %s, error: field %s not exist", req.GetDsl(), filter.Key), nil
		}
	}
	for _, f := range req.GetOutputFields() {
		if _, ok := c.field(&retrieval.Record{}, f); !ok {
			return invalid("field %s not exist", f), nil
		}
	}
	queries, err := c.queries(req)
	if err != nil {
		return invalid("%v", err), nil
	}

	data := &schemapb.SearchResultData{NumQueries: int64(len(queries)), TopK: int64(topK)}
	var hits []*retrieval.Record
	for _, q := range queries {
		found := c.search(q, filter, topK)
		data.Topks = append(data.Topks, int64(len(found)))
		for _, h := range found {
			hits = append(hits, h.rec)
			data.Scores = append(data.Scores, h.score)
		}
	}
	data.Ids = c.ids(hits)
	for _, f := range req.GetOutputFields() {
		data.FieldsData = append(data.FieldsData, c.column(f, hits))
	}
	data.OutputFields = req.GetOutputFields()
	return &milvuspb.SearchResults{Status: merr.Success(), Results: data, CollectionName: c.Name}, nil
}

// The parse helpers drop the Go error: the fake answers with a Milvus status instead.

func parseTopK(s string) (int, bool) {
	k, err := strconv.Atoi(s)
	return k, err == nil && k > 0 && k <= retrieval.MaxTopK
}

func parseFilter(expr string) (retrieval.Filter, bool) {
	f, err := retrieval.ParseFilter(expr)
	return f, err == nil
}

// queries decodes the placeholder group the SDK sends: one little-endian float32 blob per query.
func (c *collection) queries(req *milvuspb.SearchRequest) ([][]float32, error) {
	var group commonpb.PlaceholderGroup
	if err := proto.Unmarshal(req.GetPlaceholderGroup(), &group); err != nil {
		return nil, fmt.Errorf("decoding placeholder group: %v", err)
	}
	if len(group.GetPlaceholders()) != 1 {
		return nil, fmt.Errorf("got %d placeholders, want 1", len(group.GetPlaceholders()))
	}
	ph := group.GetPlaceholders()[0]
	if ph.GetType() != commonpb.PlaceholderType_FloatVector {
		return nil, fmt.Errorf("placeholder type %v is not a float vector", ph.GetType())
	}
	var out [][]float32
	for _, blob := range ph.GetValues() {
		if len(blob) != 4*c.Dim {
			return nil, fmt.Errorf("the dim (%d) of field data(vector) is not equal to schema dim (%d)", len(blob)/4, c.Dim)
		}
		v := make([]float32, c.Dim)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:]))
		}
		out = append(out, v)
	}
	if int64(len(out)) != req.GetNq() {
		return nil, fmt.Errorf("nq %d does not match %d vectors", req.GetNq(), len(out))
	}
	return out, nil
}

type hit struct {
	rec   *retrieval.Record
	score float32
}

// search scores every record as Milvus would report it: cosine or inner product (higher is
// closer) or squared Euclidean distance (lower is closer), best first, ties by ID.
func (c *collection) search(q []float32, filter retrieval.Filter, topK int) []hit {
	var hits []hit
	for i := range c.Records {
		r := &c.Records[i]
		if filter.Key != "" {
			if v, _ := c.field(r, filter.Key); v != filter.Value {
				continue
			}
		}
		hits = append(hits, hit{rec: r, score: c.score(q, r.Vector)})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		by := cmp.Compare(b.score, a.score)
		if c.Metric == "L2" {
			by = -by
		}
		return cmp.Or(by, cmp.Compare(a.rec.ID, b.rec.ID))
	})
	return hits[:min(topK, len(hits))]
}

func (c *collection) score(q, v []float32) float32 {
	var dot, qq, vv, l2 float64
	for i := range q {
		a, b := float64(q[i]), float64(v[i])
		dot += a * b
		qq += a * a
		vv += b * b
		l2 += (a - b) * (a - b)
	}
	switch c.Metric {
	case "IP":
		return float32(dot)
	case "L2":
		return float32(l2)
	}
	if qq == 0 || vv == 0 {
		return 0
	}
	return float32(dot / math.Sqrt(qq*vv))
}

func (c *collection) ids(hits []*retrieval.Record) *schemapb.IDs {
	if c.Int64IDs {
		data := make([]int64, len(hits))
		for i, h := range hits {
			data[i], _ = strconv.ParseInt(h.ID, 10, 64) // checked in newCollection
		}
		return &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: data}}}
	}
	data := make([]string, len(hits))
	for i, h := range hits {
		data[i] = h.ID
	}
	return &schemapb.IDs{IdField: &schemapb.IDs_StrId{StrId: &schemapb.StringArray{Data: data}}}
}

func (c *collection) column(name string, hits []*retrieval.Record) *schemapb.FieldData {
	if name == c.IDField && c.Int64IDs {
		ids := c.ids(hits).GetIntId().GetData()
		return &schemapb.FieldData{
			Type: schemapb.DataType_Int64, FieldName: name, FieldId: 100,
			Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}},
		}
	}
	values := make([]string, len(hits))
	for i, h := range hits {
		values[i], _ = c.field(h, name)
	}
	return &schemapb.FieldData{
		Type: schemapb.DataType_VarChar, FieldName: name, FieldId: c.fieldID(name),
		Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: values}}}},
	}
}

func (c *collection) fieldID(name string) int64 {
	for _, f := range c.schema().GetFields() {
		if f.GetName() == name {
			return f.GetFieldID()
		}
	}
	return 0
}

// GoleakOptions are the goroutines that linking Milvus' own packages starts and never stops (this
// fake's merr statuses; the SDK in the retriever's oracle test), for tests that check for leaks
// with goleak: github.com/panjf2000/ants/v2 (pulled in through milvus/pkg/v2/util/conc) creates a default worker pool with two background goroutines when
// its package is initialised.
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	}
}
