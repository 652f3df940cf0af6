package vet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/unitchecker"

	"github.com/sluice-go/sluice/vet/internal/facts"

	"github.com/sluice-go/sluice/vet/internal/sarif"
)

const vetUsage = `usage: sluice vet [-format text|json|sarif] [-o FILE] [-test=false] [packages]

sluice vet finds the hazards behind sluice's seed failures in existing Go
code and names the primitive that fixes each. Run it like go vet, inside the
module of the code to check; packages default to ./... and test files are
included unless -test=false.

Rules (silence one finding with //sluice:ignore RULE reason):
%s
Exit status: 0 when clean, 1 with findings, 2 on a usage error or when
packages do not load.

It is also a go vet tool: go vet -vettool=$(which sluice) ./...

Flags:
`

// progressEnv names the file a vet-tool run appends one line to per package
// it analyzes, so the parent sluice vet can show progress.
const progressEnv = "SLUICE_VET_PROGRESS"

// noTestsEnv, when set, tells the vet tool to leave _test.go files out of
// every package (sluice vet -test=false): go vet always vets a package
// with its test files, so without this a test file that does not compile
// would fail the run, and test code would shape the findings.
const noTestsEnv = "SLUICE_VET_NOTESTS"

// IsVetTool reports whether args (the program's arguments, without its
// name) are the go command running this binary as a vet tool (go vet
// -vettool): it asks for the version and flags, then passes one .cfg file
// per package. A command that embeds sluice vet checks this first and then
// calls VetTool.
func IsVetTool(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "-V=full", "-flags":
		return true
	}
	return strings.HasSuffix(args[len(args)-1], ".cfg")
}

// VetTool runs the analyzers as a go vet tool on the arguments in os.Args,
// and exits.
func VetTool() {
	args := os.Args[1:]
	noTests := os.Getenv(noTestsEnv) != ""
	if noTests && len(args) > 0 && args[0] == "-V=full" {
		printNoTestsVersion()
	}
	var cfg unitConfig
	if len(args) > 0 {
		cfg = readUnitConfig(args[len(args)-1])
		if noTests && strings.HasSuffix(args[len(args)-1], ".cfg") {
			args[len(args)-1] = withoutTests(args[len(args)-1])
		}
	}
	noteProgress(args)
	analyzers := Analyzers()
	if cfg.VetxOnly {
		// The go command asks for a dependency's facts only. unitchecker
		// would also run every analyzer that merely requires a
		// fact-producing one, on every dependency, for nothing: keep the
		// producers (their requirements come along).
		analyzers = slices.DeleteFunc(analyzers, func(a *analysis.Analyzer) bool { return len(a.FactTypes) == 0 })
		analyzers = append(analyzers, facts.Analyzer)
	}
	os.Args = append(os.Args[:1], args...)
	unitchecker.Main(analyzers...)
}

// unitConfig is what the vet tool reads of a go vet unit config: whether
// the go command asks only for the package's facts (a dependency of the
// packages being vetted).
type unitConfig struct {
	VetxOnly bool
}

// readUnitConfig reads the go vet unit config at path; anything unreadable
// reads as the zero config, and unitchecker reports the problem.
func readUnitConfig(path string) unitConfig {
	var cfg unitConfig
	if !strings.HasSuffix(path, ".cfg") {
		return cfg
	}
	if data, err := os.ReadFile(path); err == nil {
		json.Unmarshal(data, &cfg)
	}
	return cfg
}

// withoutTests writes a copy of the unit config at path without its
// _test.go files, next to it in the go command's work directory, and
// returns the copy's path. A package of test files only (an external test
// package) has nothing left: the tool exits at once. Its facts are read only
// by other test packages, left out too. Anything unexpected returns path,
// for unitchecker to run as is or report.
func withoutTests(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return path
	}
	var cfg map[string]any
	if json.Unmarshal(data, &cfg) != nil {
		return path
	}
	files, _ := cfg["GoFiles"].([]any)
	kept := slices.DeleteFunc(slices.Clone(files), func(f any) bool {
		name, _ := f.(string)
		return strings.HasSuffix(name, "_test.go")
	})
	if len(kept) == len(files) {
		return path
	}
	if len(kept) == 0 {
		os.Exit(0)
	}
	cfg["GoFiles"] = kept
	out, err := json.Marshal(cfg)
	if err != nil {
		return path
	}
	copyPath := strings.TrimSuffix(path, ".cfg") + "-notests.cfg"
	if os.WriteFile(copyPath, out, 0o666) != nil {
		return path
	}
	return copyPath
}

// printNoTestsVersion answers the go command's -V=full like unitchecker,
// with a build ID of its own: go vet caches each package's output under the
// tool's ID, and a run without test variants must not replay one with them.
func printNoTestsVersion() {
	h := sha256.New()
	if self, err := os.Executable(); err == nil {
		if f, err := os.Open(self); err == nil {
			io.Copy(h, f)
			f.Close()
		}
	}
	fmt.Printf("%s version devel sluice-notests buildID=%x-notests\n", os.Args[0], h.Sum(nil))
	os.Exit(0)
}

// noteProgress records, for the parent sluice vet, that a vet-tool run is
// starting on the package of the .cfg file in args.
func noteProgress(args []string) {
	path := os.Getenv(progressEnv)
	if path == "" || len(args) == 0 || !strings.HasSuffix(args[len(args)-1], ".cfg") {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return // progress is a courtesy; never fail the analysis over it
	}
	f.Write([]byte{'\n'})
	f.Close()
}

// finding is one diagnostic as sluice vet prints it.
type finding struct {
	Rule    string    `json:"rule"`
	File    string    `json:"file"` // relative to the module root, slash-separated
	Line    int       `json:"line"`
	Column  int       `json:"column"`
	Message string    `json:"message"`
	Related []related `json:"related,omitempty"`

	abs string // absolute path, for text output relative to the working directory
}

type related struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`

	abs string
}

type vetOptions struct {
	format   string
	out      string
	tests    bool
	patterns []string
}

func parseVetArgs(args []string, stdout, stderr io.Writer) (vetOptions, int, bool) {
	fs := flag.NewFlagSet("sluice vet", flag.ContinueOnError)
	var o vetOptions
	fs.StringVar(&o.format, "format", "text", "output `format`: text, json or sarif")
	fs.StringVar(&o.out, "o", "", "write the findings to `FILE` instead of standard output")
	fs.BoolVar(&o.tests, "test", true, "also check _test.go files")
	usage := func(w io.Writer) {
		fmt.Fprintf(w, vetUsage, ruleList())
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fs.SetOutput(io.Discard) // errors and usage are printed below, once
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return o, 0, false
		}
		fmt.Fprintf(stderr, "sluice vet: %v\n\n", err)
		usage(stderr)
		return o, 2, false
	}
	switch o.format {
	case "text", "json", "sarif":
	default:
		fmt.Fprintf(stderr, "sluice vet: unknown -format %q (want text, json or sarif)\n", o.format)
		return o, 2, false
	}
	o.patterns = fs.Args()
	if len(o.patterns) == 0 {
		o.patterns = []string{"./..."}
	}
	for _, p := range o.patterns {
		if strings.HasPrefix(p, "-") {
			fmt.Fprintf(stderr, "sluice vet: flag %s after the packages; flags come first\n", p)
			return o, 2, false
		}
	}
	return o, 0, true
}

func ruleList() string {
	var b strings.Builder
	for _, a := range Analyzers() {
		fmt.Fprintf(&b, "  %-10s %s\n", a.Name, firstLine(a.Doc))
	}
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Command implements sluice vet with args (the arguments after "vet") and
// returns the exit status: 0 when clean, 1 with findings, 2 on a usage error
// or when packages do not load.
//
// It runs go vet with the running binary as the vet tool, so packages are
// built, cached and analyzed exactly as go vet does (facts flow across
// packages through the go command's cache), then prints the findings in the
// chosen format. The running binary must therefore call VetTool when
// IsVetTool reports true, before anything else.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code, ok := parseVetArgs(args, stdout, stderr)
	if !ok {
		return code
	}
	fail := func(err error) int {
		if ctx.Err() != nil {
			// The go commands were stopped; whatever they said is noise.
			fmt.Fprintln(stderr, "sluice vet: interrupted")
		} else {
			fmt.Fprintf(stderr, "sluice vet: %v\n", err)
		}
		return 2
	}
	w := stdout
	if o.out != "" {
		// Open the report file first, so a path that cannot be written
		// fails before a long run rather than after it.
		out, err := openOutput(o.out)
		if err != nil {
			return fail(err)
		}
		defer out.abandon()
		w = out
	}
	modRoot, err := moduleRoot(ctx)
	if err != nil {
		return fail(err)
	}
	roots, err := listPackages(ctx, o.patterns)
	if err != nil {
		return fail(err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("cannot find this program to use as the vet tool: %v", err))
	}
	findings, err := vetPackages(ctx, self, o.patterns, roots, o.tests, stderr)
	if err != nil {
		return fail(err)
	}
	if !o.tests {
		findings = slices.DeleteFunc(findings, func(f finding) bool { return strings.HasSuffix(f.File, "_test.go") })
	}
	for i := range findings {
		relativize(&findings[i], modRoot)
	}
	sortFindings(findings)

	write := func(w io.Writer) error { return writeFindings(w, o.format, findings) }
	if out, ok := w.(*output); ok {
		err = out.commit(write)
	} else {
		err = write(w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice vet: writing findings: %v\n", err)
		return 2
	}
	if len(findings) == 0 {
		if o.format == "text" && o.out == "" {
			fmt.Fprintf(stderr, "sluice vet: no findings in %d package(s)\n", roots)
		}
		return 0
	}
	fmt.Fprintf(stderr, "sluice vet: %s\n", summary(findings))
	return 1
}

// output is the -o file. It is opened before vetting and written only at
// the end, so a failed run leaves an old report as it was and creates none.
type output struct {
	*os.File
	created bool // by this run: removed again if nothing is written
	done    bool
}

func openOutput(path string) (*output, error) {
	_, statErr := os.Stat(path)
	// No O_TRUNC: the old contents go only once the new ones are ready.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	return &output{File: f, created: errors.Is(statErr, fs.ErrNotExist)}, nil
}

// commit replaces the file's contents with what write writes. If that
// fails, a regular file is removed rather than left half-written.
func (o *output) commit(write func(io.Writer) error) error {
	o.done = true
	st, err := o.Stat()
	regular := err == nil && st.Mode().IsRegular()
	if regular {
		err = o.Truncate(0)
	}
	if err == nil {
		err = write(o.File)
	}
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	if err != nil && regular {
		os.Remove(o.Name())
		err = fmt.Errorf("%v (removed the incomplete %s)", err, o.Name())
	}
	return err
}

// abandon closes the file unwritten (unless commit ran), removing it if
// this run created it.
func (o *output) abandon() {
	if o.done {
		return
	}
	o.Close()
	if o.created {
		os.Remove(o.Name())
	}
}

// moduleRoot returns the directory file paths are given relative to: the
// workspace's (the go.work file's) in workspace mode, where a repository's
// root usually holds go.work, otherwise the main module's go.mod's.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD GOWORK: %v", commandError(err))
	}
	gomod, gowork, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	gomod, gowork = strings.TrimSpace(gomod), strings.TrimSpace(gowork)
	if gowork != "" && gowork != "off" {
		return filepath.Dir(gowork), nil
	}
	if gomod == "" || gomod == os.DevNull {
		wd, _ := os.Getwd()
		return "", fmt.Errorf("no go.mod in %s or any parent directory: run sluice vet inside the module of the code to check", wd)
	}
	return filepath.Dir(gomod), nil
}

// listPackages checks that patterns name packages that load, and returns how
// many there are. go vet itself would report a missing package or a broken
// import path mixed with its other output; checking first gives one clear
// message and keeps "no packages matched" from passing as "no findings".
func listPackages(ctx context.Context, patterns []string) (int, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-e", "-json=ImportPath,Error,DepsErrors"}, patterns...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("go list %s: %s", strings.Join(patterns, " "), strings.TrimSpace(stderr.String()))
	}
	type pkgError struct{ Err string }
	var n int
	var problems []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Error      *pkgError
			DepsErrors []*pkgError
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return 0, fmt.Errorf("reading go list output: %v", err)
		}
		n++
		if p.Error != nil {
			problems = append(problems, fmt.Sprintf("%s: %s", p.ImportPath, strings.TrimSpace(p.Error.Err)))
		}
		for _, e := range p.DepsErrors {
			problems = append(problems, fmt.Sprintf("%s: dependency: %s", p.ImportPath, strings.TrimSpace(e.Err)))
		}
	}
	if len(problems) > 0 {
		return 0, fmt.Errorf("packages do not load:\n\t%s", strings.Join(slices.Compact(problems), "\n\t"))
	}
	if n == 0 {
		return 0, fmt.Errorf("no packages match %s", strings.Join(patterns, " "))
	}
	return n, nil
}

// vetPackages runs go vet with tool as the vet tool over patterns and
// collects the findings from its JSON output. While it runs longer than a
// couple of seconds it prints progress to stderr.
func vetPackages(ctx context.Context, tool string, patterns []string, roots int, tests bool, stderr io.Writer) ([]finding, error) {
	progress, err := os.CreateTemp("", "sluice-vet-progress-*")
	if err != nil {
		return nil, err
	}
	progress.Close()
	defer os.Remove(progress.Name())

	cmd := exec.CommandContext(ctx, "go", append([]string{"vet", "-vettool=" + tool, "-json"}, patterns...)...)
	cmd.Env = append(os.Environ(), progressEnv+"="+progress.Name())
	if !tests {
		cmd.Env = append(cmd.Env, noTestsEnv+"=1")
	}
	// On interrupt, let the go command stop its tools and remove its work
	// directory; kill it only if it has not exited a while later.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { showProgress(stop, progress.Name(), roots, stderr) })
	runErr := cmd.Run()
	close(stop)
	wg.Wait()

	findings, parseErr := parseVetJSON(out.Bytes())
	if runErr != nil {
		var exit *exec.ExitError
		if !errors.As(runErr, &exit) {
			return nil, fmt.Errorf("running go vet: %v", runErr)
		}
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			msg = runErr.Error()
		}
		return nil, fmt.Errorf("packages do not load or analysis failed:\n%s", msg)
	}
	if parseErr != nil {
		return nil, parseErr
	}
	return findings, nil
}

// showProgress prints how many packages the vet tool has analyzed, first
// after two seconds and then every five, until stop is closed.
func showProgress(stop <-chan struct{}, path string, roots int, w io.Writer) {
	wait := 2 * time.Second
	for {
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		n := 0
		if b, err := os.ReadFile(path); err == nil {
			n = bytes.Count(b, []byte{'\n'})
		}
		fmt.Fprintf(w, "sluice vet: analyzed %d package(s) so far, dependencies included (%d to check)...\n", n, roots)
		wait = 5 * time.Second
	}
}

// parseVetJSON reads the stream of JSON objects go vet -json writes: one per
// package, mapping the package ID to each analyzer's diagnostics (or error).
// The same file can be analyzed twice (a package and its test variant); each
// finding is kept once.
func parseVetJSON(data []byte) ([]finding, error) {
	type jsonRelated struct {
		Posn    string `json:"posn"`
		Message string `json:"message"`
	}
	type jsonDiag struct {
		Posn    string        `json:"posn"`
		Message string        `json:"message"`
		Related []jsonRelated `json:"related"`
	}
	var findings []finding
	seen := map[string]bool{}
	var failures []string
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var tree map[string]map[string]json.RawMessage
		if err := dec.Decode(&tree); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading go vet output: %v", err)
		}
		for pkg, byAnalyzer := range tree {
			for name, raw := range byAnalyzer {
				var diags []jsonDiag
				if err := json.Unmarshal(raw, &diags); err != nil {
					var e struct{ Error string }
					if json.Unmarshal(raw, &e) == nil && e.Error != "" {
						failures = append(failures, fmt.Sprintf("%s on %s: %s", name, pkg, e.Error))
						continue
					}
					return nil, fmt.Errorf("reading go vet output for %s: %v", pkg, err)
				}
				for _, d := range diags {
					key := name + "\x00" + d.Posn + "\x00" + d.Message
					if seen[key] {
						continue
					}
					seen[key] = true
					file, line, col := splitPosn(d.Posn)
					f := finding{Rule: name, abs: file, File: file, Line: line, Column: col, Message: d.Message}
					for _, r := range d.Related {
						rf, rl, rc := splitPosn(r.Posn)
						f.Related = append(f.Related, related{File: rf, Line: rl, Column: rc, Message: r.Message, abs: rf})
					}
					findings = append(findings, f)
				}
			}
		}
	}
	if len(failures) > 0 {
		slices.Sort(failures)
		return nil, fmt.Errorf("analysis failed:\n\t%s", strings.Join(failures, "\n\t"))
	}
	return findings, nil
}

// splitPosn splits "file:line:col" (file may itself contain colons).
func splitPosn(posn string) (file string, line, col int) {
	file = posn
	if i := strings.LastIndexByte(file, ':'); i >= 0 {
		if n, err := strconv.Atoi(file[i+1:]); err == nil {
			col, file = n, file[:i]
		}
	}
	if i := strings.LastIndexByte(file, ':'); i >= 0 {
		if n, err := strconv.Atoi(file[i+1:]); err == nil {
			line, file = n, file[:i]
		} else {
			line, col = col, 0 // only "file:line" was given
		}
	}
	return file, line, col
}

func relativize(f *finding, root string) {
	rel := func(p string) string {
		if r, err := filepath.Rel(root, p); err == nil && !outside(r) {
			return filepath.ToSlash(r)
		}
		return filepath.ToSlash(p)
	}
	f.File = rel(f.abs)
	for i := range f.Related {
		f.Related[i].File = rel(f.Related[i].abs)
	}
}

// outside reports whether rel, a filepath.Rel result, leaves its base.
func outside(rel string) bool {
	return rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func sortFindings(fs []finding) {
	slices.SortFunc(fs, func(a, b finding) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.Column != b.Column {
			return a.Column - b.Column
		}
		return strings.Compare(a.Rule, b.Rule)
	})
}

func summary(fs []finding) string {
	counts := map[string]int{}
	for _, f := range fs {
		counts[f.Rule]++
	}
	var parts []string
	for _, a := range Analyzers() {
		if n := counts[a.Name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", a.Name, n))
		}
	}
	return fmt.Sprintf("%d finding(s): %s", len(fs), strings.Join(parts, ", "))
}

func writeFindings(w io.Writer, format string, fs []finding) error {
	switch format {
	case "json":
		if fs == nil {
			fs = []finding{} // a clean run is [], not null
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(fs)
	case "sarif":
		return writeSARIF(w, fs)
	}
	bw := bufio.NewWriter(w)
	wd, _ := os.Getwd()
	// Text names files as go vet does: relative to the working directory
	// when under it, else absolute.
	name := func(abs string) string {
		if r, err := filepath.Rel(wd, abs); err == nil && !outside(r) {
			return r
		}
		return abs
	}
	for _, f := range fs {
		fmt.Fprintf(bw, "%s:%d:%d: %s: %s\n", name(f.abs), f.Line, f.Column, f.Rule, f.Message)
		for _, r := range f.Related {
			fmt.Fprintf(bw, "\t%s:%d: %s\n", name(r.abs), r.Line, r.Message)
		}
	}
	return bw.Flush()
}

func writeSARIF(w io.Writer, fs []finding) error {
	var rules []sarif.Rule
	for _, a := range Analyzers() {
		rules = append(rules, sarif.Rule{ID: a.Name, Short: firstLine(a.Doc), Help: a.Doc, HelpURI: a.URL})
	}
	results := make([]sarif.Result, 0, len(fs))
	for _, f := range fs {
		r := sarif.Result{RuleID: f.Rule, Message: f.Message, Loc: sarif.Location{File: f.File, Line: f.Line, Column: f.Column}}
		for _, rel := range f.Related {
			r.Related = append(r.Related, sarif.Location{File: rel.File, Line: rel.Line, Column: rel.Column, Message: rel.Message})
		}
		results = append(results, r)
	}
	return sarif.Write(w, "sluice vet", version(), "https://github.com/sluice-go/sluice", rules, results)
}

// version is the sluice module's version as built, for the SARIF log.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// commandError adds what a failed go command printed to its error.
func commandError(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(exit.Stderr)))
	}
	return err
}
