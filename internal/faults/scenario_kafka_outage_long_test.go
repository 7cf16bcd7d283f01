//go:build faults

package faults

import (
	"net/http"
	"strings"
	"time"
)

// kafkaDowntime is longer than every retry budget of kafka-go's reader (it gives up after MaxAttempts, ~10 s): the
// collectors must wait out an outage of any length.
const kafkaDowntime = 65 * time.Second

func init() {
	scenarios = append(scenarios, scenario{
		name: "kafka-outage-65s", what: "the Kafka broker is stopped for 65 s while two collectors run: they stay up, " +
			"/readyz answers 503 naming Kafka meanwhile, and they resume without loss",
		// 24 h at 720x is 120 s of wall time: the agents outlive the outage and flush their spools after it.
		duration: 24 * time.Hour, speed: 720, collectors: 2,
		fault: func(r *run) {
			r.at(0.15)
			for _, c := range r.live {
				r.waitInserted(c)
			}
			r.requireAgentsRunning("before stopping Kafka")
			r.res.note("Kafka stopping at %s, down for %s of wall time after it stopped", r.progress(), kafkaDowntime)
			r.svc.stop("kafka")
			stopped := time.Now()
			saw := map[string]string{} // collector → the first 503 body naming Kafka
			for time.Since(stopped) < kafkaDowntime {
				for _, c := range r.live {
					if !c.running() {
						r.t.Fatalf("%s exited during the Kafka outage (%s); log tail:\n%s", c.name, c.exitDesc(), c.tail(30))
					}
					if _, ok := saw[c.name]; ok {
						continue
					}
					if code, body, _ := readyz(r.metricsAddr[c]); code == http.StatusServiceUnavailable && strings.Contains(body, "kafka") {
						saw[c.name] = strings.TrimSpace(body)
					}
				}
				time.Sleep(time.Second)
			}
			r.svc.start("kafka")
			r.res.note("Kafka back at %s", r.progress())
			for _, c := range r.live {
				body, ok := saw[c.name]
				if !ok {
					r.t.Errorf("%s: /readyz never answered 503 naming Kafka during the %s outage", c.name, kafkaDowntime)
					continue
				}
				r.res.note("%s /readyz during the outage: 503 %q", c.name, firstLine(body))
			}
			deadline := time.Now().Add(2 * time.Minute)
			for _, c := range r.live {
				for {
					code, body, err := readyz(r.metricsAddr[c])
					if err != nil {
						body = err.Error()
					}
					if code == http.StatusOK {
						break
					}
					if time.Now().After(deadline) {
						r.t.Errorf("%s not ready 2 minutes after Kafka came back: %d %s", c.name, code, body)
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
			}
		},
		verify: func(r *run) {
			for _, c := range r.collectors {
				r.res.note("%s stored %d rows and logged %d failed fetches it waited out", c.name, inserted(c),
					c.count("fetch from kafka failed; waiting for it"))
			}
		},
	})
}

// readyz answers the status code and body of a collector's /readyz (0 when it does not answer).
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
