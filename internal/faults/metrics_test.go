//go:build faults

package faults

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// metricsPoll is how often a running binary's /metrics is read.
const metricsPoll = 200 * time.Millisecond

// scraper reads a process's /metrics while it runs and keeps the last values read, so that a check can read a
// counter after the process ended. A process that was killed or exited between two polls loses at most one poll of
// progress, so figures read this way are lower bounds.
type scraper struct {
	addr   string
	client *http.Client
	mu     sync.Mutex
	last   map[string]float64 // metric name (labels summed over) → value
}

// watchMetrics starts polling p's /metrics at addr until p ends.
func (p *proc) watchMetrics(addr string) {
	s := &scraper{addr: addr, client: &http.Client{Timeout: 2 * time.Second}, last: map[string]float64{}}
	p.metrics = s
	go func() {
		t := time.NewTicker(metricsPoll)
		defer t.Stop()
		for {
			s.poll()
			select {
			case <-p.done:
				return
			case <-t.C:
			}
		}
	}()
}

// metric is the last value read of the sample name (summed over its label sets): 0 when p has no /metrics or never
// exported it.
func (p *proc) metric(name string) float64 {
	if p.metrics == nil {
		return 0
	}
	p.metrics.poll() // fresh while p runs; a no-op once it ended
	p.metrics.mu.Lock()
	defer p.metrics.mu.Unlock()
	return p.metrics.last[name]
}

// poll reads /metrics once; a failed read (the process not listening yet, or gone) keeps the last values.
func (s *scraper) poll() {
	resp, err := s.client.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	read := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		read[name] += v
	}
	if sc.Err() != nil {
		return
	}
	s.mu.Lock()
	s.last = read
	s.mu.Unlock()
}

// readyz asks a binary's /readyz: its status code and body.
func readyz(addr string) (int, string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
