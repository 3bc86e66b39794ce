package zk

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// raceProbe, set only in race-enabled builds on Linux (rawio_race_test.go),
// runs one scenario in a child process of the test binary.
var raceProbe func(scenario string) int

// TestMain checks, after every test of the package (internal and external
// test files build into one binary), that no goroutine was left behind.
func TestMain(m *testing.M) {
	if s := os.Getenv("ZK_RACE_PROBE"); s != "" && raceProbe != nil {
		os.Exit(raceProbe(s))
	}
	goleak.VerifyTestMain(m)
}
