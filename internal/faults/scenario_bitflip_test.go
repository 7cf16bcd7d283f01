//go:build faults

package faults

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// flipBit flips one bit in the payload of a pending record in the middle of the newest segment of a spool directory
// (frame format: agent/spool/format.go) and returns the GPU-seconds that record carried.
func (r *run) flipBit(dir string) float64 {
	r.t.Helper()
	var segs []string
	des, err := os.ReadDir(dir)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".seg") {
			segs = append(segs, de.Name())
		}
	}
	sort.Strings(segs)
	if len(segs) == 0 {
		r.t.Fatalf("no segment in %s", dir)
	}
	name := segs[len(segs)-1]
	seq, _ := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
	start := int64(0)
	if ack, err := os.ReadFile(filepath.Join(dir, "ack")); err == nil && len(ack) == 28 &&
		binary.LittleEndian.Uint64(ack[8:16]) == seq {
		start = int64(binary.LittleEndian.Uint64(ack[16:24]))
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	var frames []int64
	for off := start; off+8 <= int64(len(b)); {
		frames = append(frames, off)
		off += 8 + int64(binary.LittleEndian.Uint32(b[off:off+4]))
	}
	if len(frames) < 3 {
		r.t.Fatalf("%s holds %d pending records after the ack position %d, want at least 3", path, len(frames), start)
	}
	off := frames[len(frames)/2]
	n := int64(binary.LittleEndian.Uint32(b[off : off+4]))
	secs := math.Float64frombits(binary.LittleEndian.Uint64(b[off+8+13 : off+8+21]))
	b[off+8+n/2] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.res.note("flipped one bit in record %d of %d pending in %s (offset %d, a record of %g GPU-s)",
		len(frames)/2+1, len(frames), name, off+8+n/2, secs)
	return secs
}

func init() {
	scenarios = append(scenarios, scenario{
		name: "spool-bit-flip",
		what: "an agent whose brokers are unreachable (a wrong --kafka-brokers, so the collectors are not disturbed) " +
			"spools half an hour and exits; one bit of a record in the middle of its spool is flipped, and the agent " +
			"is restarted with the right brokers: only that record is lost (counted), the spool resynchronises on the " +
			"next one and delivers the rest",
		duration: 3 * time.Hour, speed: 720, collectors: 1,
		fault: func(r *run) {
			r.at(0.05)
			r.requireAgentsRunning("before stopping an agent")
			n := r.nodes[0]
			k1 := latest(r.stopAgent(n))
			// Detour: half an hour that only reaches the spool.
			const d2 = 30 * time.Minute
			s2 := k1.Add(time.Minute)
			r.agentArgs[n.name] = []string{"--kafka-brokers=127.0.0.1:1", "--flush-timeout=1s"}
			p := r.startAgent(n, s2, d2, "")
			last := r.cleanExit(n, p, time.Duration(float64(d2)/r.sc.speed)+agentsGrace)
			spooled, _ := p.field("agent stopped", "still_spooled")
			r.res.note("%s ran %s with unreachable brokers from virtual %s and left %s records spooled", p.name, d2,
				s2.Format(time.TimeOnly), spooled)
			r.dropped[n.name] = r.flipBit(r.spoolDirs[n.name])
			delete(r.agentArgs, n.name)
			k2 := latest(last)
			s3 := k2.Add(time.Minute)
			end := simStart.Add(r.sc.duration)
			// Measured per GPU: (K1 − S1) + d2 + (end − s3); as one stop and restart: (K2 − S1') + (end − s3).
			r.kills[n.name] = &agentKill{s1: s2.Add(-k1.Sub(simStart)), s2: s3, end: end, kLo: k2, checkpoint: last, stopped: true}
			r.startAgent(n, s3, end.Sub(s3), "")
		},
		verify: func(r *run) {
			n := r.nodes[0]
			ps := r.agents[n.name]
			p := ps[len(ps)-1]
			corrupt, _ := p.field("agent stopped", "corrupt_records")
			r.res.note("%s counted %s corrupt record(s); %d resynchronisation line(s) in its log", p.name, corrupt,
				p.count("resynchronised on the next valid entry"))
			if corrupt != "1" {
				r.t.Errorf("%s counted corrupt_records=%q, want 1", p.name, corrupt)
			}
			if p.count("resynchronised on the next valid entry") != 1 {
				r.t.Errorf("%s did not log the resynchronisation once", p.name)
			}
		},
	})
}
