// Package e2e holds the end-to-end tests: simulated GPU nodes through the real Kafka broker and the collector into the
// real ClickHouse server, checked against the truth the simulation knows.
package e2e
