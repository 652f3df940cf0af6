package ok

import "testing"

// Tests fan out on purpose: not reported.
func TestFan(t *testing.T) {
	for _, it := range inputs() {
		go get(it)
	}
}

func inputs() []string { return nil }
