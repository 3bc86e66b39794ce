package zk

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after every test of the package (internal and external
// test files build into one binary), that no goroutine was left behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
