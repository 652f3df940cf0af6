package golangci

import (
	"strings"
	"testing"

	"github.com/golangci/plugin-module-register/register"
)

func names(t *testing.T, raw any) ([]string, error) {
	t.Helper()
	newPlugin, err := register.GetPlugin("sluice")
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlugin(raw)
	if err != nil {
		return nil, err
	}
	if m := p.GetLoadMode(); m != register.LoadModeTypesInfo {
		t.Errorf("load mode %q, want %q", m, register.LoadModeTypesInfo)
	}
	as, err := p.BuildAnalyzers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out, nil
}

func TestAllRulesByDefault(t *testing.T) {
	got, err := names(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "lockheld guardedby checkact fanout notimeout loopblock ignore"
	if strings.Join(got, " ") != want {
		t.Errorf("analyzers %v, want %s", got, want)
	}
}

func TestDisable(t *testing.T) {
	got, err := names(t, map[string]any{"disable": []string{"fanout", "checkact"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, " "); strings.Contains(s, "fanout") || strings.Contains(s, "checkact") || !strings.Contains(s, "ignore") {
		t.Errorf("analyzers %v after disabling fanout and checkact", got)
	}
}

func TestBadSettings(t *testing.T) {
	for _, raw := range []any{
		map[string]any{"disable": []string{"lockhold"}},
		map[string]any{"disable": []string{"ignore"}},
		map[string]any{"enable": []string{"fanout"}},
	} {
		if _, err := names(t, raw); err == nil || !strings.HasPrefix(err.Error(), "sluice: ") {
			t.Errorf("settings %v: err %v, want an error starting with \"sluice: \"", raw, err)
		}
	}
}
