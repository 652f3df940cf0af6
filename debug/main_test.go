package debug_test

import (
	"testing"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }
