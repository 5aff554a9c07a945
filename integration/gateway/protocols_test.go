package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/nats-io/nats.go"
)

// protocol is one way a client reaches the gateway.
type protocol string

const (
	protoConnect protocol = "connect"  // connect-go, Connect protocol, binary protobuf
	protoGRPC    protocol = "grpc"     // google.golang.org/grpc over HTTP/2 without TLS
	protoGRPCWeb protocol = "grpc-web" // connect-go with WithGRPCWeb
	protoJSON    protocol = "json"     // net/http: POST application/json (unary), Connect's enveloped JSON (streams)
)

var protocols = []protocol{protoConnect, protoGRPC, protoGRPCWeb, protoJSON}

func mustJetStream(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func (h *harness) connectOptions(p protocol) []connect.ClientOption {
	if p == protoGRPCWeb {
		return []connect.ClientOption{connect.WithGRPCWeb()}
	}
	return nil
}

// callUnary calls procedure ("/jetflow.v1.ChatService/Chat") with req over p.
func callUnary[Req, Res any](ctx context.Context, h *harness, p protocol, procedure string, req *Req) (*Res, error) {
	switch p {
	case protoConnect, protoGRPCWeb:
		resp, err := connect.NewClient[Req, Res](h.http, h.url+procedure, h.connectOptions(p)...).CallUnary(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	case protoGRPC:
		res := new(Res)
		if err := h.grpc.Invoke(ctx, procedure, req, res); err != nil {
			return nil, err
		}
		return res, nil
	case protoJSON:
		body, err := protojson.Marshal(any(req).(proto.Message))
		if err != nil {
			return nil, err
		}
		status, out, err := postJSON(ctx, h, procedure, "application/json", body)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d: %s", status, out)
		}
		res := new(Res)
		if err := protojson.Unmarshal(out, any(res).(proto.Message)); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", out, err)
		}
		return res, nil
	}
	return nil, fmt.Errorf("no protocol %s", p)
}

// callServerStream calls a server-streaming procedure and returns every message it sent.
func callServerStream[Req, Res any](ctx context.Context, h *harness, p protocol, procedure string, req *Req) ([]*Res, error) {
	var got []*Res
	switch p {
	case protoConnect, protoGRPCWeb:
		stream, err := connect.NewClient[Req, Res](h.http, h.url+procedure, h.connectOptions(p)...).CallServerStream(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		defer stream.Close()
		for stream.Receive() {
			got = append(got, stream.Msg())
		}
		return got, stream.Err()
	case protoGRPC:
		stream, err := h.grpc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, procedure)
		if err != nil {
			return nil, err
		}
		if err := stream.SendMsg(req); err != nil {
			return nil, err
		}
		if err := stream.CloseSend(); err != nil {
			return nil, err
		}
		for {
			res := new(Res)
			err := stream.RecvMsg(res)
			if errors.Is(err, io.EOF) {
				return got, nil
			}
			if err != nil {
				return got, err
			}
			got = append(got, res)
		}
	case protoJSON:
		frames, err := connectJSONStream(ctx, h, procedure, []proto.Message{any(req).(proto.Message)})
		for _, f := range frames {
			res := new(Res)
			if err := protojson.Unmarshal(f, any(res).(proto.Message)); err != nil {
				return got, err
			}
			got = append(got, res)
		}
		return got, err
	}
	return nil, fmt.Errorf("no protocol %s", p)
}

// callClientStream sends reqs on a client-streaming procedure and returns its answer.
func callClientStream[Req, Res any](ctx context.Context, h *harness, p protocol, procedure string, reqs []*Req) (*Res, error) {
	switch p {
	case protoConnect, protoGRPCWeb:
		stream := connect.NewClient[Req, Res](h.http, h.url+procedure, h.connectOptions(p)...).CallClientStream(ctx)
		for _, r := range reqs {
			if err := stream.Send(r); err != nil {
				break // the answer says why
			}
		}
		resp, err := stream.CloseAndReceive()
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	case protoGRPC:
		stream, err := h.grpc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, procedure)
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			if err := stream.SendMsg(r); err != nil {
				break
			}
		}
		if err := stream.CloseSend(); err != nil {
			return nil, err
		}
		res := new(Res)
		if err := stream.RecvMsg(res); err != nil {
			return nil, err
		}
		return res, nil
	case protoJSON:
		msgs := make([]proto.Message, len(reqs))
		for i, r := range reqs {
			msgs[i] = any(r).(proto.Message)
		}
		frames, err := connectJSONStream(ctx, h, procedure, msgs)
		if err != nil {
			return nil, err
		}
		if len(frames) != 1 {
			return nil, fmt.Errorf("%d messages in the answer, want 1", len(frames))
		}
		res := new(Res)
		return res, protojson.Unmarshal(frames[0], any(res).(proto.Message))
	}
	return nil, fmt.Errorf("no protocol %s", p)
}

func postJSON(ctx context.Context, h *harness, procedure, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+procedure, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// connectJSONStream speaks the Connect streaming protocol with JSON by hand, as a browser's
// fetch would: enveloped messages in (flag byte, big-endian length, JSON), enveloped messages
// out, the last with flag 2 holding the end of the stream (and its error, if any).
func connectJSONStream(ctx context.Context, h *harness, procedure string, msgs []proto.Message) ([][]byte, error) {
	var body bytes.Buffer
	for _, m := range msgs {
		b, err := protojson.Marshal(m)
		if err != nil {
			return nil, err
		}
		writeEnvelope(&body, 0, b)
	}
	status, out, err := postJSON(ctx, h, procedure, "application/connect+json", body.Bytes())
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", status, out)
	}
	var frames [][]byte
	for len(out) >= 5 {
		flags, n := out[0], binary.BigEndian.Uint32(out[1:5])
		if uint32(len(out)-5) < n {
			return frames, fmt.Errorf("truncated envelope")
		}
		data := out[5 : 5+n]
		out = out[5+n:]
		if flags&2 != 0 {
			var end struct {
				Error *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(data, &end); err != nil {
				return frames, fmt.Errorf("decoding the end of the stream %s: %w", data, err)
			}
			if end.Error != nil {
				return frames, fmt.Errorf("%s: %s", end.Error.Code, end.Error.Message)
			}
			return frames, nil
		}
		frames = append(frames, data)
	}
	return frames, fmt.Errorf("the stream ended without its end message")
}

func writeEnvelope(w *bytes.Buffer, flags byte, data []byte) {
	var hdr [5]byte
	hdr[0] = flags
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(data)))
	w.Write(hdr[:])
	w.Write(data)
}

// postJSONWithTimeout posts a unary JSON request with Connect's timeout header and no client
// deadline, so the answer seen is the gateway's own.
func postJSONWithTimeout(h *harness, procedure, body string, timeout time.Duration) (int, string, error) {
	req, err := http.NewRequestWithContext(h.p.Ctx, http.MethodPost, h.url+procedure, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Timeout-Ms", strconv.FormatInt(timeout.Milliseconds(), 10))
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), err
}
