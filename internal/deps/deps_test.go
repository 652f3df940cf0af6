package deps

import (
	"os/exec"
	"strings"
	"testing"
)

// primitives import only the standard library and sluice's own internal
// packages (which obey the same rule).
var primitives = []string{"sem", "pool", "run", "keyed", "guard", "queue", "gate", "loop", "adapt", "debug"}

func TestPrimitivesImportOnlyTheStandardLibrary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	const mod = "github.com/sluice-go/sluice/"
	for _, p := range primitives {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", mod+p)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "is not in std") || strings.Contains(string(out), "cannot find") || strings.Contains(string(out), "no required module") {
				continue // a planned primitive not written yet
			}
			t.Fatalf("go list -deps %s: %v\n%s", p, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			switch {
			case dep == mod+p, strings.HasPrefix(dep, mod+"internal/"):
				continue
			case strings.HasPrefix(dep, mod) && !strings.HasPrefix(dep, mod+"conctest") && !strings.HasPrefix(dep, mod+"vet") && !strings.HasPrefix(dep, mod+"demo"):
				continue // another primitive, checked on its own
			}
			t.Errorf("%s imports %s, outside the standard library (heavy dependencies belong in a module of their own)", p, dep)
		}
	}
}
