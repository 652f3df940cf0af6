package debug_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/sluice-go/sluice/debug"
	"github.com/sluice-go/sluice/sem"
)

// Register a semaphore and serve the debug page on a loopback port: the
// page is at http://127.0.0.1:PORT/debug/sluice/, its data at
// ...?format=json.
func Example() {
	reg := debug.NewRegistry()
	slots := sem.New(10)
	if err := reg.Register("slots", slots); err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	mux.Handle("/debug/sluice/", http.StripPrefix("/debug/sluice", reg.Handler()))
	ln, err := net.Listen("tcp", "127.0.0.1:0") // loopback only: the page is for operators
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		_ = srv.Close()
		<-served
	}()

	ctx := context.Background()
	_ = slots.Acquire(ctx, 3)
	defer slots.Release(3)

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/debug/sluice/?format=json", nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var entries []debug.Entry
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		fmt.Println(err)
		return
	}
	for _, en := range entries {
		fmt.Println(en.Kind, en.Name)
		for _, f := range en.Figures[:3] {
			fmt.Printf("  %s %v\n", f.Field, f.Value)
		}
	}
	// Output:
	// sem slots
	//   Capacity 10
	//   InUse 3
	//   Waiting 0
}

// Record the events of a gate and a loop on their entries: the page shows
// them with the handler's name and stack.
func ExampleRegistry_Record() {
	reg := debug.NewRegistry()
	s := sem.New(1)
	_ = reg.Register("slots", s)
	reg.Record("slots", debug.Event{Kind: "resize", Message: "capacity 1 (was 4)"})
	for _, ev := range reg.Snapshot()[0].Events {
		fmt.Println(ev.Kind+":", ev.Message)
	}
	// Output: resize: capacity 1 (was 4)
}
