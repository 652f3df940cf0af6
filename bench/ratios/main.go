// Command ratios reads `go test -bench` output and prints, for each
// benchmark group, the median of every implementation and its ratio to
// sluice's, as a Markdown table. Benchmarks are named Group/impl[/...]-P,
// e.g. SemContended/xsync-16; the implementation named "sluice" (or
// starting with "sluice") is the base. Run several counts so the medians
// mean something:
//
//	go test -run '^$' -bench . -count 6 . | tee out.txt | go run ./ratios
//
// A ratio above 1 means sluice is faster (the anchor takes longer per op).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

type sample struct {
	nsPerOp []float64
	allocs  []float64
	bytes   []float64
}

// key is one benchmark group and one implementation within it.
type key struct{ group, impl string }

var procSuffix = regexp.MustCompile(`-\d+$`)

func main() {
	if err := report(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
}

func report(r io.Reader, w io.Writer) error {
	samples := map[key]*sample{}
	var order []key
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(fields[0], "Benchmark"), "")
		k := split(name)
		s := samples[k]
		if s == nil {
			s = &sample{}
			samples[k] = s
			order = append(order, k)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "ns/op":
				s.nsPerOp = append(s.nsPerOp, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return fmt.Errorf("no benchmark lines in the input")
	}
	fmt.Fprintln(w, "| benchmark | implementation | median ns/op | allocs/op | B/op | anchor time / sluice time | runs |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	groups := []string{}
	byGroup := map[string][]key{}
	for _, k := range order {
		if _, ok := byGroup[k.group]; !ok {
			groups = append(groups, k.group)
		}
		byGroup[k.group] = append(byGroup[k.group], k)
	}
	for _, g := range groups {
		var base float64
		for _, k := range byGroup[g] {
			if strings.HasPrefix(k.impl, "sluice") && base == 0 {
				base = median(samples[k].nsPerOp)
			}
		}
		for _, k := range byGroup[g] {
			s := samples[k]
			m := median(s.nsPerOp)
			ratio := "-"
			switch {
			case strings.HasPrefix(k.impl, "sluice"):
				ratio = "base"
				if b := median(s.nsPerOp); b != base && base > 0 {
					ratio = fmt.Sprintf("%.2fx", m/base)
				}
			case base > 0 && m > 0:
				ratio = fmt.Sprintf("%.2fx", m/base)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d |\n",
				g, k.impl, num(m), num(median(s.allocs)), num(median(s.bytes)), ratio, len(s.nsPerOp))
		}
	}
	return nil
}

// split turns "Group/impl/rest" into its group and implementation. A name
// with no slash is its own group with the implementation "-".
func split(name string) key {
	group, rest, ok := strings.Cut(name, "/")
	if !ok {
		return key{group: name, impl: "-"}
	}
	return key{group: group, impl: rest}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
