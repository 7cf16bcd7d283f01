package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	stat := []byte("4242 (gpumeter-coll ector) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n")
	cpu, err := parseStat(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Errorf("cpu = %s, %v; want 3.25s", cpu, err)
	}
	hwm, err := parseHWM([]byte("Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n"))
	if err != nil || hwm != 2<<20 {
		t.Errorf("hwm = %d, %v; want 2 MiB", hwm, err)
	}
	if _, err := parseHWM([]byte("Name:\tx\n")); err == nil {
		t.Error("missing VmHWM accepted")
	}
}

func TestSelf(t *testing.T) {
	if _, err := CPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if rss, err := PeakRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Fatalf("peak rss %d, %v", rss, err)
	}
}
