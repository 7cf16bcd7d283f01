//go:build integration

package kafkaconf_test

import (
	"os"
	"testing"
)

// TestMain stops the dedicated Kafka broker (started by the first test that needs it) once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	stopKafkaBroker()
	os.Exit(code)
}
