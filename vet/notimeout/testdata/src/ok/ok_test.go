package ok

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Test files are bounded by go test -timeout: not reported.
func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
	}
}
