package milvus

import "testing"

// The SDK's reading of an address (ClientConfig.parse, unexported) that parseAddr copies; the
// database part is also checked on the wire by TestSDKOracle.
func TestParseAddr(t *testing.T) {
	tests := []struct {
		addr string
		want endpoint
	}{
		{"milvus:19530", endpoint{target: "milvus:19530"}},
		{"milvus:19530/kb", endpoint{target: "milvus:19530", db: "kb"}},
		{"http://milvus:19530", endpoint{target: "milvus:19530"}},
		{"https://z.cloud", endpoint{target: "z.cloud:443", tls: true}},
		{"https://z.cloud:19541/kb", endpoint{target: "z.cloud:19541", tls: true, db: "kb"}},
	}
	for _, tt := range tests {
		got, err := parseAddr(tt.addr)
		if err != nil || got != tt.want {
			t.Errorf("parseAddr(%q) = %+v, %v; want %+v", tt.addr, got, err, tt.want)
		}
	}
	for _, bad := range []string{"/kb", "https://", "tcp://%zz"} {
		if got, err := parseAddr(bad); err == nil {
			t.Errorf("parseAddr(%q) = %+v, want an error", bad, got)
		}
	}
}
