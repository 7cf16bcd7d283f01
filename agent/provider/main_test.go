package provider

import (
	"testing"

	"go.uber.org/goleak"
)

// Detection probes the metadata services in parallel: no probe may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
