// Package faults holds the fault tests (issue 4): scripted scenarios against real Kafka and ClickHouse instances of
// their own and the real gpumeter-agent and gpumeter-collector binaries. Each scenario breaks something mid-run (the
// broker, the database, a collector, an agent, the data on the topic) and ends with the truth check: the provisioned
// GPU-seconds in ClickHouse's gpu_usage view equal what the simulated agents measured.
//
// The tests carry the build tag `faults`, so `go test ./...` does not run them next to every other package (they stop
// and start their own services, which takes a few minutes). Run them with
//
//	go test -race -tags faults -count=1 -v -run . ./internal/faults/
//
// (make faults). They need what `make test` needs (deploy/local/services.sh: ClickHouse, Java and the Kafka jars,
// kcat) and fail, never skip, when something is missing. The suite starts its own ClickHouse and Kafka on free ports
// in a temporary state directory (the Kafka jars are copied from the shared one when it has them) and stops them at
// the end, or a watchdog does if the test process dies. GPUMETER_FAULTS_KEEP=1 keeps the services' state and every
// process log for a post-mortem.
package faults
