package main

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/vet"
)

// buildSluice builds this command into a temporary directory. sluice vet
// runs go vet with its own binary as the vet tool, so the end-to-end tests
// need the real binary, not the test binary. It is built without -race
// whatever the test run uses: the analyzers' speed is not under test.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeModule writes a module named example.com/m with the given files
// (path -> contents) into a new directory and returns it.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type vetRun struct {
	code        int
	out, errOut string
}

func runSluice(t *testing.T, bin, dir string, args ...string) vetRun {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running sluice %v: %v", args, err)
	}
	return vetRun{code, o.String(), e.String()}
}

// A directive naming an unknown rule is a finding of the ignore rule in
// every configuration, so the command's plumbing is tested independently of
// what the hazard rules find.
var findingFiles = map[string]string{
	"a/a.go":      "package a\n\n//sluice:ignore lockhold a typo\nfunc F() {}\n",
	"a/a_test.go": "package a\n\n//sluice:ignore fanout\nfunc helper() {}\n",
	"clean/c.go":  "package clean\n\nfunc G() int { return 1 }\n",
}

// fanoutFile starts a goroutine per element of a parameter: a fanout finding
// at 7:3 with a related position at line 6 (the loop).
const fanoutFile = `package sub

import "net/http"

func Fan(urls []string) {
	for _, u := range urls {
		go http.Get(u)
	}
}
`

func TestVetCommand(t *testing.T) {
	bin := buildSluice(t)
	mod := writeModule(t, findingFiles)

	t.Run("findings exit 1 with file:line: rule: message", func(t *testing.T) {
		r := runSluice(t, bin, mod, "vet", "./...")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
		}
		for _, want := range []string{
			"a/a.go:3:1: ignore: //sluice:ignore names unknown rule \"lockhold\"",
			"a/a_test.go:3:1: ignore: //sluice:ignore fanout gives no reason",
		} {
			if !strings.Contains(r.out, want) {
				t.Errorf("output lacks %q:\n%s", want, r.out)
			}
		}
		if !strings.Contains(r.errOut, "2 finding(s): ignore 2") {
			t.Errorf("stderr lacks the summary:\n%s", r.errOut)
		}
	})
	t.Run("-test=false leaves test files out", func(t *testing.T) {
		r := runSluice(t, bin, mod, "vet", "-test=false", "./...")
		if r.code != 1 || strings.Contains(r.out, "a_test.go") || !strings.Contains(r.out, "a/a.go:3:1") {
			t.Fatalf("exit %d, output:\n%s", r.code, r.out)
		}
	})
	t.Run("clean packages exit 0", func(t *testing.T) {
		r := runSluice(t, bin, mod, "vet", "./clean")
		if r.code != 0 || r.out != "" || !strings.Contains(r.errOut, "no findings in 1 package") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := runSluice(t, bin, mod, "vet", "-format", "json", "./a")
		var fs []struct {
			Rule, File, Message string
			Line, Column        int
		}
		if err := json.Unmarshal([]byte(r.out), &fs); err != nil {
			t.Fatalf("exit %d, output is not JSON: %v\n%s", r.code, err, r.out)
		}
		if r.code != 1 || len(fs) != 2 || fs[0].Rule != "ignore" || fs[0].File != "a/a.go" || fs[0].Line != 3 || fs[0].Column != 1 {
			t.Fatalf("exit %d, findings %+v", r.code, fs)
		}
		clean := runSluice(t, bin, mod, "vet", "-format", "json", "./clean")
		if clean.code != 0 || strings.TrimSpace(clean.out) != "[]" {
			t.Fatalf("clean run: exit %d, output %q, want []", clean.code, clean.out)
		}
	})
	t.Run("sarif to a file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "vet.sarif")
		r := runSluice(t, bin, mod, "vet", "-format", "sarif", "-o", out, "./...")
		if r.code != 1 || r.out != "" {
			t.Fatalf("exit %d, stdout %q", r.code, r.out)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		checkSARIF(t, data, map[string]int{"a/a.go": 3, "a/a_test.go": 3})
	})
	t.Run("usable as go vet -vettool", func(t *testing.T) {
		cmd := exec.Command("go", "vet", "-vettool="+bin, "./a")
		cmd.Dir = mod
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "unknown rule \"lockhold\"") {
			t.Fatalf("go vet -vettool: err %v, output:\n%s", err, out)
		}
	})
	t.Run("packages that do not type-check exit 2", func(t *testing.T) {
		bad := writeModule(t, map[string]string{"b/b.go": "package b\n\nvar x int = \"s\"\n"})
		r := runSluice(t, bin, bad, "vet", "./...")
		if r.code != 2 || !strings.Contains(r.errOut, "example.com/m/b") || !strings.Contains(r.errOut, "cannot use \"s\"") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.errOut)
		}
	})
	t.Run("a missing package exits 2", func(t *testing.T) {
		r := runSluice(t, bin, mod, "vet", "./nosuch")
		if r.code != 2 || !strings.Contains(r.errOut, "nosuch") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.errOut)
		}
	})
	t.Run("an import that does not resolve exits 2", func(t *testing.T) {
		bad := writeModule(t, map[string]string{"i/i.go": "package i\n\nimport _ \"example.com/notthere/pkg\"\n"})
		r := runSluice(t, bin, bad, "vet", "./...")
		if r.code != 2 || !strings.Contains(r.errOut, "example.com/notthere/pkg") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.errOut)
		}
	})
	t.Run("-test=false does not load test files", func(t *testing.T) {
		// A test file that does not compile, and one whose test code
		// would be analyzed: neither may matter when tests are left out.
		m := writeModule(t, map[string]string{
			"b/b.go":      "package b\n\n//sluice:ignore lockhold a typo\nfunc F() {}\n",
			"b/b_test.go": "package b\n\nvar x int = \"s\"\n",
		})
		r := runSluice(t, bin, m, "vet", "-test=false", "./...")
		if r.code != 1 || !strings.Contains(r.out, "b/b.go:3:1: ignore:") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
		}
		// With tests included the broken test file is a load error.
		r = runSluice(t, bin, m, "vet", "./...")
		if r.code != 2 || !strings.Contains(r.errOut, "b_test.go") {
			t.Fatalf("with tests: exit %d\nstderr:\n%s", r.code, r.errOut)
		}
	})
	t.Run("-o to an unwritable path fails before vetting", func(t *testing.T) {
		// The packages do not type-check either: the path is reported first.
		bad := writeModule(t, map[string]string{"b/b.go": "package b\n\nvar x int = \"s\"\n"})
		r := runSluice(t, bin, bad, "vet", "-o", filepath.Join(t.TempDir(), "no", "such", "x.sarif"), "./...")
		if r.code != 2 || !strings.Contains(r.errOut, "no such file") || strings.Contains(r.errOut, "cannot use") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.errOut)
		}
	})
	t.Run("-o keeps an old report when the run fails", func(t *testing.T) {
		bad := writeModule(t, map[string]string{"b/b.go": "package b\n\nvar x int = \"s\"\n"})
		out := filepath.Join(t.TempDir(), "report.txt")
		os.WriteFile(out, []byte("old\n"), 0o644)
		if r := runSluice(t, bin, bad, "vet", "-o", out, "./..."); r.code != 2 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.errOut)
		}
		if data, _ := os.ReadFile(out); string(data) != "old\n" {
			t.Errorf("report after a failed run = %q, want the old one", data)
		}
		fresh := filepath.Join(t.TempDir(), "new.txt")
		runSluice(t, bin, bad, "vet", "-o", fresh, "./...")
		if _, err := os.Stat(fresh); err == nil {
			t.Errorf("a failed run left %s behind", fresh)
		}
	})
	t.Run("sarif uris are URIs", func(t *testing.T) {
		m := writeModule(t, map[string]string{"a/x#1%.go": findingFiles["a/a.go"]})
		r := runSluice(t, bin, m, "vet", "-format", "sarif", "./...")
		checkSARIF(t, []byte(r.out), map[string]int{"a/x%231%25.go": 3})
	})
	t.Run("text: related positions are named like the finding", func(t *testing.T) {
		m := writeModule(t, map[string]string{"fo/sub/f.go": fanoutFile})
		r := runSluice(t, bin, filepath.Join(m, "fo"), "vet", "./...")
		if r.code != 1 || !strings.Contains(r.out, "sub/f.go:7:3: fanout:") || !strings.Contains(r.out, "\tsub/f.go:6:") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
		}
	})
	t.Run("a go.work workspace: paths relative to the workspace", func(t *testing.T) {
		ws := t.TempDir()
		for _, m := range []string{"m1", "m2"} {
			os.MkdirAll(filepath.Join(ws, m, "p"), 0o755)
			os.WriteFile(filepath.Join(ws, m, "go.mod"), []byte("module example.com/"+m+"\n\ngo 1.26\n"), 0o644)
			os.WriteFile(filepath.Join(ws, m, "p", "p.go"), []byte(findingFiles["a/a.go"]), 0o644)
		}
		os.WriteFile(filepath.Join(ws, "go.work"), []byte("go 1.26\n\nuse (\n\t./m1\n\t./m2\n)\n"), 0o644)
		r := runSluice(t, bin, ws, "vet", "-format", "sarif", "./m1/...", "./m2/...")
		if r.code != 1 {
			t.Fatalf("workspace root: exit %d, stderr:\n%s", r.code, r.errOut)
		}
		checkSARIF(t, []byte(r.out), map[string]int{"m1/p/p.go": 3, "m2/p/p.go": 3})
		r = runSluice(t, bin, filepath.Join(ws, "m1"), "vet", "-format", "sarif", "example.com/m2/...")
		checkSARIF(t, []byte(r.out), map[string]int{"m2/p/p.go": 3})
	})
	t.Run("no go.mod exits 2", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "x.go"), []byte("package x\n"), 0o644)
		r := runSluice(t, bin, dir, "vet")
		if r.code != 2 || !strings.Contains(r.errOut, "no go.mod") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.errOut)
		}
	})
}

func checkSARIF(t *testing.T, data []byte, want map[string]int) {
	t.Helper()
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string
					Rules []struct {
						ID   string
						Help struct{ Text string }
					}
				}
			}
			Results []struct {
				RuleID    string
				Level     string
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	rules := map[string]bool{}
	for _, r := range run.Tool.Driver.Rules {
		if r.Help.Text == "" {
			t.Errorf("rule %s has no help text", r.ID)
		}
		rules[r.ID] = true
	}
	for _, id := range []string{"lockheld", "guardedby", "checkact", "fanout", "notimeout", "loopblock", "ignore"} {
		if !rules[id] {
			t.Errorf("SARIF rules lack %s", id)
		}
	}
	got := map[string]int{}
	for _, r := range run.Results {
		if !rules[r.RuleID] || r.Level == "" || r.Message.Text == "" || len(r.Locations) != 1 {
			t.Errorf("malformed result %+v", r)
			continue
		}
		l := r.Locations[0].PhysicalLocation
		got[l.ArtifactLocation.URI] = l.Region.StartLine
	}
	for file, line := range want {
		if got[file] != line {
			t.Errorf("SARIF results %v, want %s at line %d", got, file, line)
		}
	}
}

// TestVetFindsEveryNaiveDemo is sluice vet's built-in proof: every seed's
// naive variant is written the way the original code was, so sluice vet must
// name its hazard; every sluice variant is the fix, so nothing may be found
// there, nor in the harness the two variants share.
func TestVetFindsEveryNaiveDemo(t *testing.T) {
	bin := buildSluice(t)
	r := runSluice(t, bin, "../..", "vet", "-format", "json", "./demo/...")
	var fs []struct {
		Rule, File, Message string
		Line                int
	}
	if err := json.Unmarshal([]byte(r.out), &fs); err != nil {
		t.Fatalf("exit %d: %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.out, r.errOut)
	}
	// Each naive variant and the rules that must name its hazard.
	want := map[string][]string{
		"demo/sharedconn":  {"guardedby"},
		"demo/peerstreams": {"checkact"},
		"demo/recovery":    {"fanout", "notimeout"},
		"demo/eventloop":   {"loopblock"},
		"demo/coldstore":   {"loopblock"},
	}
	found := map[string]map[string]bool{}
	for _, f := range fs {
		dir := filepath.ToSlash(filepath.Dir(f.File))
		if !inNaiveCode(t, filepath.Join("../..", f.File), f.Line) {
			t.Errorf("finding outside a naive variant: %s:%d: %s: %s", f.File, f.Line, f.Rule, f.Message)
			continue
		}
		if found[dir] == nil {
			found[dir] = map[string]bool{}
		}
		found[dir][f.Rule] = true
	}
	for dir, rules := range want {
		for _, rule := range rules {
			if !found[dir][rule] {
				t.Errorf("sluice vet found no %s hazard in %s's naive variant", rule, dir)
			}
		}
	}
	if t.Failed() {
		t.Logf("all findings:\n%s", r.out)
	}
}

// inNaiveCode reports whether line of file lies in the naive variant: a file
// named naive.go, or a declaration whose name or receiver says naive.
func inNaiveCode(t *testing.T, file string, line int) bool {
	t.Helper()
	if filepath.Base(file) == "naive.go" {
		return true
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatalf("parsing %s: %v", file, err)
	}
	for _, d := range f.Decls {
		if fset.Position(d.Pos()).Line > line || fset.Position(d.End()).Line < line {
			continue
		}
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			return false
		}
		name := fd.Name.Name
		if fd.Recv != nil && len(fd.Recv.List) == 1 {
			name += " " + typeName(fd.Recv.List[0].Type)
		}
		return strings.Contains(strings.ToLower(name), "naive")
	}
	return false
}

func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return typeName(e.X)
	case *ast.Ident:
		return e.Name
	case *ast.IndexExpr:
		return typeName(e.X)
	}
	return ""
}

func TestVetInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e bytes.Buffer
	if code := vet.Command(ctx, []string{"./..."}, &o, &e); code != 2 || !strings.Contains(e.String(), "interrupted") {
		t.Fatalf("exit %d, stderr:\n%s", code, e.String())
	}
}

// The flag and module checks need no vet tool, so they run in-process.
func TestVetUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"vet", "-bogus"},
		{"vet", "-format", "xml"},
		{"vet", "./...", "-format", "json"},
	} {
		code, _, errOut := runArgs(nil, args...)
		if code != 2 || !strings.Contains(errOut, "sluice vet") && !strings.Contains(errOut, "flag") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, code, errOut)
		}
	}
	code, out, errOut := runArgs(nil, "vet", "-h")
	if code != 0 || !strings.Contains(out+errOut, "lockheld") {
		t.Errorf("vet -h: exit %d, output:\n%s%s", code, out, errOut)
	}
}
