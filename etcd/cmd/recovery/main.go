// Command recovery replays seed 002 across replicas: three validator
// replicas share one ML node, each recovers a backlog of missed
// inferences (three trigger paths fire at once) while live validations go
// on.
//
//	naive:  the seed's in-process fix on each replica, a sem.New(10) and a
//	        run.Guard: 30 validations at the node, three recoveries at once.
//	sluice: one cluster.Semaphore of 10 and one cluster.Guard on etcd: 10
//	        at the node cluster-wide, one recovery, two triggers rejected.
//
// It starts an embedded etcd on 127.0.0.1 unless -endpoints names a real
// cluster:
//
//	go run ./cmd/recovery
//	go run ./cmd/recovery -endpoints http://10.0.0.1:2379,http://10.0.0.2:2379
//
// It exits 1 if the sluice variant fails its checks.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/sluice-go/sluice/etcd/internal/embedded"
)

func quietZap() *zap.Logger { return zap.NewNop() }

func main() {
	endpoints := flag.String("endpoints", "", "comma-separated etcd client URLs (default: start an embedded etcd)")
	prefix := flag.String("prefix", "", "etcd key prefix (default: /sluice-demo/recovery/<pid>-<time>)")
	replicas := flag.Int("replicas", 3, "validator replicas")
	limit := flag.Int("limit", 10, "validations at the node at once (the seed's maxConcurrentValidations)")
	flag.Parse()
	if err := mainErr(*endpoints, *prefix, Config{Replicas: *replicas, Limit: *limit}); err != nil {
		fmt.Fprintln(os.Stderr, "recovery:", err)
		os.Exit(1)
	}
}

func mainErr(endpoints, prefix string, cfg Config) error {
	cfg = cfg.withDefaults()
	var eps []string
	if endpoints == "" {
		c, err := embedded.Start("", 1, embedded.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		eps = c.Endpoints()
		fmt.Printf("embedded etcd at %s\n\n", eps[0])
	} else {
		eps = strings.Split(endpoints, ",")
	}
	if prefix == "" {
		prefix = fmt.Sprintf("/sluice-demo/recovery/%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*cfg.Guard)
	defer cancel()
	naive, err := RunNaive(ctx, cfg)
	if err != nil {
		return fmt.Errorf("naive: %w", err)
	}
	sluice, err := RunSluice(ctx, cfg, eps, prefix)
	if err != nil {
		return fmt.Errorf("sluice: %w", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "SCENARIO\trecovery (seed 002) across %d replicas, one ML node\n", cfg.Replicas)
	fmt.Fprintf(w, "VARIANT\tpeak at node\toverlapping runs\trejected triggers\tvalidated\telapsed\n")
	for _, r := range []Report{naive, sluice} {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%v\n", r.Variant, r.PeakAtNode, r.OverlappingRuns, r.Rejected, r.Validated, r.Elapsed.Round(time.Millisecond))
	}
	w.Flush()
	fmt.Println()
	fmt.Println("naive: ", verdictNaive(naive, cfg))
	v, ok := verdictSluice(sluice, cfg)
	fmt.Println("sluice:", v)
	if !ok {
		return fmt.Errorf("the sluice variant failed its checks")
	}
	return nil
}

func verdictNaive(r Report, cfg Config) string {
	if r.PeakAtNode > cfg.Limit || r.OverlappingRuns > 1 {
		return fmt.Sprintf("shows the failure: %d at the node (cap %d per replica adds up), %d recoveries at once", r.PeakAtNode, cfg.Limit, r.OverlappingRuns)
	}
	return "did not show the failure"
}

func verdictSluice(r Report, cfg Config) (string, bool) {
	want := cfg.Backlog + cfg.Replicas*cfg.Live
	ok := r.PeakAtNode == cfg.Limit && r.OverlappingRuns == 1 && r.Rejected == cfg.Replicas-1 && r.Validated == want
	if ok {
		return fmt.Sprintf("ok: %d at the node cluster-wide, 1 recovery (%d rejected), %d validated", r.PeakAtNode, r.Rejected, r.Validated), true
	}
	return fmt.Sprintf("FAILED: %d at the node (want %d), %d runs at once, %d rejected, %d of %d validated",
		r.PeakAtNode, cfg.Limit, r.OverlappingRuns, r.Rejected, r.Validated, want), false
}
