package eventloop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"
)

// user is the API's answer to a user lookup.
type user struct {
	ID      int `json:"id"`
	Commits int `json:"commits"`
}

// score is the pipeline's scoring rule.
func score(u user, merged int) int { return merged*10 + u.Commits }

// What the API serves for worker w, so the scores can be checked.
func commitsOf(w int) int { return (w*7)%13 + 1 }
func mergedOf(w int) int  { return (w*3)%5 + 1 }

// api is the client side of the scoring API.
type api struct {
	base   string
	client *http.Client
}

func (a *api) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("eventloop: GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// user looks worker w up: the first call of scoring a worker.
func (a *api) user(ctx context.Context, w int) (user, error) {
	var u user
	err := a.get(ctx, "/user/"+strconv.Itoa(w), &u)
	if err == nil && u.ID != w {
		err = fmt.Errorf("eventloop: asked for user %d, got %d", w, u.ID)
	}
	return u, err
}

// merged counts the merged pull requests of the user with the given id:
// the second call, which needs the first one's answer.
func (a *api) merged(ctx context.Context, id int) (int, error) {
	var v struct {
		Merged int `json:"merged"`
	}
	err := a.get(ctx, "/merged/"+strconv.Itoa(id), &v)
	return v.Merged, err
}

// newAPI is the scoring API's handler, answering after delay.
func newAPI(delay time.Duration) http.Handler {
	mux := http.NewServeMux()
	wait := func(r *http.Request) bool {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	id := func(w http.ResponseWriter, r *http.Request) (int, bool) {
		n, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return 0, false
		}
		return n, wait(r)
	}
	mux.HandleFunc("GET /user/{id}", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := id(w, r); ok {
			json.NewEncoder(w).Encode(user{ID: n, Commits: commitsOf(n)})
		}
	})
	mux.HandleFunc("GET /merged/{id}", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := id(w, r); ok {
			json.NewEncoder(w).Encode(map[string]int{"merged": mergedOf(n)})
		}
	})
	return mux
}

// inProcess is an http.RoundTripper that serves each request with h on
// the caller's goroutine: no sockets, so it blocks only where h does.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	sreq := req.Clone(req.Context()) // the mux writes its match into the request
	sreq.RequestURI = req.URL.RequestURI()
	sreq.Body = http.NoBody
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, sreq)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}
