package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetflow-dev/jetflow/internal/gateway/auth"
)

var hashA, hashB = strings.Repeat("a", 64), strings.Repeat("b", 64)

func TestParseKeyFile(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string // "" = valid
	}{
		{"README example", `{"callers":[
			{"name":"web-app","key_sha256":"` + hashA + `","services":["jetflow.v1.ChatService","jetflow.v1.SpeechService"],"rate_per_second":20,"burst":40},
			{"name":"ops","key_sha256":"` + hashB + `","services":["*"],"admin":true},
			{"name":"batch","client_cert":{"common_name":"batch.jetflow.internal"},"services":["jetflow.v1.PipelineService"]}]}`, ""},
		{"no callers", `{"callers":[]}`, ""},
		{"not an object", `[]`, "decoding JSON"},
		{"null", `null`, "no \"callers\""},
		{"no callers field", `{}`, "no \"callers\""},
		{"null callers", `{"callers":null}`, "no \"callers\""},
		{"two values", `{"callers":[]} {}`, "more than one JSON value"},
		{"unknown field", `{"callers":[{"name":"a","key_sha256":"` + hashA + `","services":["*"],"admni":true}]}`, "admni"},
		{"bad name", `{"callers":[{"name":"a b","key_sha256":"` + hashA + `","services":["*"]}]}`, "name"},
		{"empty name", `{"callers":[{"key_sha256":"` + hashA + `","services":["*"]}]}`, "name"},
		{"plaintext key", `{"callers":[{"name":"a","key_sha256":"jf_secret","services":["*"]}]}`, "64 lowercase hex"},
		{"uppercase hash", `{"callers":[{"name":"a","key_sha256":"` + strings.ToUpper(hashA) + `","services":["*"]}]}`, "64 lowercase hex"},
		{"no identity", `{"callers":[{"name":"a","services":["*"]}]}`, "neither"},
		{"two identities", `{"callers":[{"name":"a","key_sha256":"` + hashA + `","client_cert":{"dns":"x"},"services":["*"]}]}`, "both"},
		{"cert with two names", `{"callers":[{"name":"a","client_cert":{"dns":"x","uri":"spiffe://y"},"services":["*"]}]}`, "exactly one"},
		{"cert with no name", `{"callers":[{"name":"a","client_cert":{},"services":["*"]}]}`, "exactly one"},
		{"short service name", `{"callers":[{"name":"a","key_sha256":"` + hashA + `","services":["ChatService"]}]}`, "full service name"},
		{"path for a service", `{"callers":[{"name":"a","key_sha256":"` + hashA + `","services":["/jetflow.v1.ChatService/Chat"]}]}`, "full service name"},
		{"negative rate", `{"callers":[{"name":"a","key_sha256":"` + hashA + `","services":["*"],"rate_per_second":-1}]}`, "rate_per_second"},
		{"negative burst", `{"callers":[{"name":"a","key_sha256":"` + hashA + `","services":["*"],"burst":-1}]}`, "burst"},
		{"duplicate name", `{"callers":[{"name":"a","key_sha256":"` + hashA + `","services":["*"]},{"name":"a","key_sha256":"` + hashB + `","services":["*"]}]}`, "twice"},
		{"duplicate key", `{"callers":[{"name":"a","key_sha256":"` + hashA + `","services":["*"]},{"name":"b","key_sha256":"` + hashA + `","services":["*"]}]}`, "key_sha256 appears twice"},
		{"duplicate cert", `{"callers":[{"name":"a","client_cert":{"dns":"x"},"services":["*"]},{"name":"b","client_cert":{"dns":"x"},"services":["*"]}]}`, "client_cert appears twice"},
		{"too large", `{"callers":[` + strings.Repeat(" ", 1<<20) + `]}`, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kf, err := auth.ParseKeyFile([]byte(tt.json))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseKeyFile = %v, want valid", err)
				}
				if kf == nil {
					t.Fatal("nil key file without an error")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, auth.ErrInvalidKeyFile) {
				t.Fatalf("ParseKeyFile = %v, want ErrInvalidKeyFile mentioning %q", err, tt.want)
			}
		})
	}
}

// FuzzParseKeyFile: the key file is outside input (an operator's Secret). Whatever it holds,
// parsing never panics, and what it accepts validates and survives a round trip.
func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(`{"callers":[{"name":"web","key_sha256":"` + hashA + `","services":["jetflow.v1.ChatService"],"rate_per_second":0.5,"burst":3}]}`))
	f.Add([]byte(`{"callers":[{"name":"b","client_cert":{"uri":"spiffe://x/y"},"services":["*"],"admin":true}]}`))
	f.Add([]byte(`{"callers":null}`))
	f.Add([]byte(`{"callers":[{"name":"a","rate_per_second":1e400}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := auth.ParseKeyFile(data)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidKeyFile) {
				t.Fatalf("error not marked ErrInvalidKeyFile: %v", err)
			}
			return
		}
		if err := kf.Validate(); err != nil {
			t.Fatalf("accepted a key file that does not validate: %v", err)
		}
		for _, e := range kf.Callers {
			if (e.KeySHA256 == "") == (e.ClientCert == nil) {
				t.Fatalf("accepted caller %q with %s", e.Name, "not exactly one identity")
			}
		}
		if _, err := auth.New(auth.Config{Keys: kf}); err != nil {
			t.Fatalf("New refused an accepted key file: %v", err)
		}
	})
}
