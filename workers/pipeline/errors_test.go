package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/jetflow-dev/jetflow/internal/failure"
	"github.com/jetflow-dev/jetflow/internal/upstream/modelhttp"
)

func TestClassifyKube(t *testing.T) {
	gr := schema.GroupResource{Group: "argoproj.io", Resource: "workflows"}
	tests := []struct {
		name      string
		err       error
		permanent bool
		delay     time.Duration
	}{
		{"403 forbidden", apierrors.NewForbidden(gr, "w", errors.New("RBAC")), true, 0},
		{"422 invalid", apierrors.NewInvalid(schema.GroupKind{Group: "argoproj.io", Kind: "Workflow"}, "w", nil), true, 0},
		{"400 bad request", apierrors.NewBadRequest("bad"), true, 0},
		{"404 no template or namespace", apierrors.NewNotFound(gr, "w"), true, 0},
		{"409 conflict", apierrors.NewConflict(gr, "w", errors.New("changed")), true, 0},
		{"405", apierrors.NewMethodNotSupported(gr, "create"), true, 0},
		{"429 with delay", apierrors.NewTooManyRequests("slow down", 7), false, 7 * time.Second},
		{"429 without delay", apierrors.NewTooManyRequests("slow down", 0), false, 0},
		{"503", apierrors.NewServiceUnavailable("down"), false, 0},
		{"500", apierrors.NewInternalError(errors.New("etcd")), false, 0},
		{"504 server timeout", apierrors.NewTimeoutError("slow", 0), false, 0},
		{"401", apierrors.NewUnauthorized("token expired"), false, 0},
		{"transport", fmt.Errorf("dial tcp: connection refused"), false, 0},
		{"deadline", context.DeadlineExceeded, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classifyKube("creating workflow", tt.err)
			if got := failure.IsPermanent(err); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if d, _ := failure.RetryDelay(err); d != tt.delay {
				t.Errorf("retry delay = %v, want %v", d, tt.delay)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("the cause is not kept: %v", err)
			}
		})
	}
}

func TestClassifyHTTP(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		status     int
		retryAfter string
		permanent  bool
		delay      time.Duration
	}{
		{http.StatusBadRequest, "", true, 0},
		{http.StatusForbidden, "", true, 0},
		{http.StatusNotFound, "", true, 0},
		{http.StatusConflict, "", true, 0},
		{http.StatusUnauthorized, "", false, 0},
		{http.StatusRequestTimeout, "", false, 0},
		{http.StatusUnauthorized, "2", false, 2 * time.Second},
		{http.StatusTooEarly, "", false, 0},
		{http.StatusUnprocessableEntity, "5", true, 0},
		{http.StatusTooManyRequests, "3", false, 3 * time.Second},
		{http.StatusTooManyRequests, now.Add(time.Minute).Format(http.TimeFormat), false, time.Minute},
		{http.StatusTooManyRequests, "99999", false, modelhttp.MaxRetryAfter},
		{http.StatusServiceUnavailable, "garbage", false, 0},
		{http.StatusInternalServerError, "", false, 0},
		{http.StatusBadGateway, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.retryAfter), func(t *testing.T) {
			err := classifyHTTP(&HTTPError{Method: "GET", Path: "/x", StatusCode: tt.status}, tt.retryAfter, now)
			if got := failure.IsPermanent(err); got != tt.permanent {
				t.Errorf("permanent = %v, want %v", got, tt.permanent)
			}
			if d, _ := failure.RetryDelay(err); d != tt.delay {
				t.Errorf("retry delay = %v, want %v", d, tt.delay)
			}
		})
	}
}

func TestKFPErrorBodyKeepsTokenOut(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"bad header Authorization: %s"}`, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	k := &kfpBackend{http: srv.Client(), base: srv.URL, token: StaticToken("s3cret")}
	_, err := k.do(t.Context(), http.MethodGet, "/x", nil, nil)
	var he *HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("do = %v, want an *HTTPError", err)
	}
	if he.Body != `{"error":"bad header Authorization: Bearer [REDACTED]"}` {
		t.Fatalf("error body = %q", he.Body)
	}
}
