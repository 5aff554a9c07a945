package milvus_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetflow-dev/jetflow/internal/envconfig"
	"github.com/jetflow-dev/jetflow/internal/upstream/retrieval/milvus"
)

func TestConfigValidate(t *testing.T) {
	ok := milvus.Config{Addr: "milvus:19530", Collection: "docs"}
	tests := []struct {
		name   string
		modify func(*milvus.Config)
		want   string // "" = valid
	}{
		{"minimal", func(*milvus.Config) {}, ""},
		{"all set", func(c *milvus.Config) {
			c.Metric, c.TopK, c.Timeout, c.Username, c.Password = milvus.L2, 10, time.Second, "u", "p"
		}, ""},
		{"no address", func(c *milvus.Config) { c.Addr = "" }, "address"},
		{"no collection", func(c *milvus.Config) { c.Collection = "" }, "collection"},
		{"bad metric", func(c *milvus.Config) { c.Metric = "HAMMING" }, "metric"},
		{"negative top_k", func(c *milvus.Config) { c.TopK = -1 }, "top_k"},
		{"huge top_k", func(c *milvus.Config) { c.TopK = 20000 }, "top_k"},
		{"negative timeout", func(c *milvus.Config) { c.Timeout = -time.Second }, "timeout"},
		{"key and user", func(c *milvus.Config) { c.APIKey, c.Username = "k", "u" }, "not both"},
		{"password alone", func(c *milvus.Config) { c.Password = "p" }, "without a username"},
		{"empty output field", func(c *milvus.Config) { c.OutputFields = []string{"a", ""} }, "empty name"},
		{"consistency and params", func(c *milvus.Config) { c.Consistency, c.SearchParams = milvus.Session, `{"nprobe": 16}` }, ""},
		{"bad consistency", func(c *milvus.Config) { c.Consistency = "Customized" }, "consistency"},
		{"params not json", func(c *milvus.Config) { c.SearchParams = "nprobe=16" }, "search params"},
		{"params not an object", func(c *milvus.Config) { c.SearchParams = "[16]" }, "search params"},
		{"params null", func(c *milvus.Config) { c.SearchParams = "null" }, "search params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(*testing.T, milvus.Config)
		wantErr []string // variable names the error must mention
	}{
		{
			name: "required only",
			env:  map[string]string{"MILVUS_ADDR": "milvus:19530", "MILVUS_COLLECTION": "docs"},
			check: func(t *testing.T, c milvus.Config) {
				if c.VectorField != "embedding" || c.TextField != "text" || c.Metric != milvus.Cosine || c.TopK != 5 || c.Timeout != 10*time.Second {
					t.Fatalf("defaults: %v", c)
				}
			},
		},
		{
			name: "everything",
			env: map[string]string{
				"MILVUS_ADDR": "https://z.cloud:443/kb", "MILVUS_COLLECTION": "kb", "MILVUS_VECTOR_FIELD": "vec",
				"MILVUS_TEXT_FIELD": "body", "MILVUS_ID_FIELD": "doc_id", "MILVUS_OUTPUT_FIELDS": "source, lang,,",
				"MILVUS_METRIC": "l2", "MILVUS_TOP_K": "12", "MILVUS_FILTER": `tenant == "home"`,
				"MILVUS_TOKEN": "secret-token", "MILVUS_TIMEOUT": "3s",
			},
			check: func(t *testing.T, c milvus.Config) {
				want := milvus.Config{
					Addr: "https://z.cloud:443/kb", Collection: "kb", VectorField: "vec", TextField: "body", IDField: "doc_id",
					OutputFields: []string{"source", "lang"}, Metric: milvus.L2, TopK: 12, Filter: `tenant == "home"`,
					APIKey: "secret-token", Timeout: 3 * time.Second,
				}
				if !reflect.DeepEqual(c, want) {
					t.Fatalf("got  %v\nwant %v", c, want)
				}
				if c.APIKey != "secret-token" {
					t.Fatal("token not read")
				}
			},
		},
		{
			name: "user and password",
			env:  map[string]string{"MILVUS_ADDR": "m:1", "MILVUS_COLLECTION": "d", "MILVUS_USERNAME": "root", "MILVUS_PASSWORD": "pw"},
			check: func(t *testing.T, c milvus.Config) {
				if c.Username != "root" || c.Password != "pw" || c.APIKey != "" {
					t.Fatalf("credentials: %q %q %q", c.Username, c.Password, c.APIKey)
				}
			},
		},
		{
			name:    "every problem at once",
			env:     map[string]string{"MILVUS_METRIC": "dot", "MILVUS_TOP_K": "0", "MILVUS_TIMEOUT": "soon"},
			wantErr: []string{"MILVUS_ADDR", "MILVUS_COLLECTION", "MILVUS_METRIC", "MILVUS_TOP_K", "MILVUS_TIMEOUT"},
		},
		{
			name: "consistency and search params",
			env: map[string]string{"MILVUS_ADDR": "m:1", "MILVUS_COLLECTION": "d", "MILVUS_CONSISTENCY": "strong",
				"MILVUS_SEARCH_PARAMS": `{"ef": 64}`},
			check: func(t *testing.T, c milvus.Config) {
				if c.Consistency != milvus.Strong || c.SearchParams != `{"ef": 64}` {
					t.Fatalf("consistency %q, search params %q", c.Consistency, c.SearchParams)
				}
			},
		},
		{
			name:    "bad consistency and search params",
			env:     map[string]string{"MILVUS_ADDR": "m:1", "MILVUS_COLLECTION": "d", "MILVUS_CONSISTENCY": "sometimes", "MILVUS_SEARCH_PARAMS": "ef=64"},
			wantErr: []string{"MILVUS_CONSISTENCY", "MILVUS_SEARCH_PARAMS"},
		},
		{
			name:    "token and password",
			env:     map[string]string{"MILVUS_ADDR": "m:1", "MILVUS_COLLECTION": "d", "MILVUS_TOKEN": "secret-token", "MILVUS_USERNAME": "u", "MILVUS_PASSWORD": "secret-pw"},
			wantErr: []string{"MILVUS_TOKEN"},
		},
		{
			name:    "password without user",
			env:     map[string]string{"MILVUS_ADDR": "m:1", "MILVUS_COLLECTION": "d", "MILVUS_PASSWORD": "secret-pw"},
			wantErr: []string{"MILVUS_USERNAME"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := milvus.FromEnv(envconfig.Map(tt.env))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("FromEnv: %v", err)
				}
				if err := c.Validate(); err != nil {
					t.Fatalf("FromEnv gave an invalid config: %v", err)
				}
				tt.check(t, c)
				return
			}
			if err == nil {
				t.Fatal("FromEnv succeeded")
			}
			for _, name := range tt.wantErr {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q echoes a secret", err)
			}
		})
	}
}

func TestConfigNeverShowsSecrets(t *testing.T) {
	c := milvus.Config{Addr: "m:1", Collection: "d", Username: "root", Password: "secret-pw", APIKey: "secret-key", OutputFields: []string{"a"}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "milvus", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.String(), logged.String()} {
		if strings.Contains(out, "secret") {
			t.Errorf("secret shown in %q", out)
		}
		if !strings.Contains(out, "m:1") {
			t.Errorf("address missing from %q", out)
		}
	}
	if !slices.Equal(c.OutputFields, []string{"a"}) {
		t.Fatal("String changed the config")
	}
}
