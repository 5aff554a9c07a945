package tts

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	jetflowv1 "github.com/jetflow-dev/jetflow/proto/jetflow/v1"
	"github.com/jetflow-dev/jetflow/streams"
)

// ParseVoices reads TTS_VOICES: a comma-separated list of id[:language[:name]]. OpenAI's speech
// API has no voices endpoint, so the list is configuration; it is encoded once and every request
// is answered from that cache.
func ParseVoices(s string) ([]*jetflowv1.Voice, error) {
	var voices []*jetflowv1.Voice
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.SplitN(item, ":", 3)
		v := &jetflowv1.Voice{Id: strings.TrimSpace(parts[0])}
		if len(parts) > 1 {
			v.Language = strings.TrimSpace(parts[1])
		}
		v.Name = v.Id
		if len(parts) > 2 {
			v.Name = strings.TrimSpace(parts[2])
		}
		if v.Id == "" || seen[v.Id] {
			return nil, fmt.Errorf("voice list %q: empty or repeated id %q", s, v.Id)
		}
		seen[v.Id] = true
		voices = append(voices, v)
	}
	if len(voices) == 0 {
		return nil, fmt.Errorf("voice list %q names no voice", s)
	}
	return voices, nil
}

// VoicesService answers ai.tts.voices with the voices list, as protobuf, or as protojson when
// the request has the header Content-Type: application/json, which makes `nats req` readable.
type VoicesService struct {
	nc      *nats.Conn
	asProto []byte
	asJSON  []byte
}

// NewVoicesService prepares the service; Run registers it.
func NewVoicesService(nc *nats.Conn, voices []*jetflowv1.Voice) (*VoicesService, error) {
	resp := &jetflowv1.ListVoicesResponse{Voices: voices}
	b, err := proto.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encoding voices: %w", err)
	}
	j, err := protojson.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encoding voices as JSON: %w", err)
	}
	return &VoicesService{nc: nc, asProto: b, asJSON: j}, nil
}

// Name is the runner's name.
func (s *VoicesService) Name() string { return "tts-voices" }

// Run serves until ctx ends.
func (s *VoicesService) Run(ctx context.Context) error {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        "tts-voices",
		Version:     "1.0.0",
		Description: "Voices tts-module can speak with",
		Endpoint: &micro.EndpointConfig{
			Subject: streams.SubjectTTSVoices,
			Handler: micro.HandlerFunc(s.handle),
		},
	})
	if err != nil {
		return fmt.Errorf("starting the voices service: %w", err)
	}
	<-ctx.Done()
	if err := svc.Stop(); err != nil {
		return fmt.Errorf("stopping the voices service: %w", err)
	}
	return nil
}

func (s *VoicesService) handle(req micro.Request) {
	ct := req.Headers().Get("Content-Type")
	if strings.HasPrefix(strings.ToLower(ct), "application/json") {
		_ = req.Respond(s.asJSON, micro.WithHeaders(micro.Headers{"Content-Type": {"application/json"}}))
		return
	}
	_ = req.Respond(s.asProto, micro.WithHeaders(micro.Headers{"Content-Type": {"application/protobuf"}}))
}
