package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Free disk is part of the budget: when the file system fills (here: a fake statfs that reports what is left of a
// 64 KiB disk), the oldest entries are dropped and counted as with MaxBytes, the newest kept, and DiskFull says so.
func TestFreeDiskIsPartOfTheBudget(t *testing.T) {
	const size = 200
	frame := int64(frameLen(&[]Entry{entry(0, size)}[0]))
	dir := t.TempDir()
	const disk = 64 << 10
	var others atomic.Int64 // bytes other files take on the "disk"
	free := func(string) (int64, error) { return disk - others.Load() - diskBytes(t, dir), nil }
	log, lb := newLog()
	s := open(t, Options{Dir: dir, SegmentBytes: 10 * frame, MinFreeBytes: 8 << 10, FreeBytes: free, Log: log})
	defer s.Close()

	mustAppend(t, s, entries(0, 100, size)) // ~21 KiB: fits
	if st := s.Stats(); st.DiskFull || st.DroppedEntries != 0 {
		t.Fatalf("with room: %+v", st)
	}
	others.Store(40 << 10) // something else fills the disk
	var want float64
	for i := 100; i < 200; i++ {
		mustAppend(t, s, entries(i, i+1, size))
	}
	st := s.Stats()
	if !st.DiskFull || st.DroppedEntries == 0 {
		t.Fatalf("disk full but Stats %+v", st)
	}
	if used := diskBytes(t, dir); used+others.Load()+8<<10 > disk+10*frame {
		t.Errorf("spool takes %d bytes with %d used by others: more than the disk minus MinFreeBytes (one segment of slack)", used, others.Load())
	}
	got := ids(t, drain(t, s, 1000))
	if got[len(got)-1] != 199 || len(got)+int(st.DroppedEntries) != 200 {
		t.Errorf("kept %d entries ending with %d, dropped %d: want the newest kept and every entry accounted for", len(got),
			got[len(got)-1], st.DroppedEntries)
	}
	for i := range int(st.DroppedEntries) {
		want += entry(i, size).Seconds
	}
	if st.DroppedSeconds != want {
		t.Errorf("dropped %g GPU-seconds, want %g (the oldest %d entries)", st.DroppedSeconds, want, st.DroppedEntries)
	}
	if len(lb.lines("ERROR", "disk_full=true")) == 0 {
		t.Errorf("no ERROR line saying the disk is full:\n%s", lb)
	}
	others.Store(0)
	mustAppend(t, s, entries(200, 201, size))
	if s.Stats().DiskFull {
		t.Errorf("disk has room again but DiskFull is still set")
	}
}

// A real full file system: the spool on a 256 KiB tmpfs. statfs tells the truth here, and when another file takes
// the rest of the disk the spool drops its oldest and keeps appending; when even that is not enough, a write fails
// with ENOSPC and Append says so (the agent keeps those records in memory). Needs mount(2): root or CAP_SYS_ADMIN.
func TestTmpfsFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	const size = 400
	dir := filepath.Join(mnt, "spool")
	s, err := Open(Options{Dir: dir, SegmentBytes: 16 << 10, MinFreeBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 200 { // ~80 KiB
		mustAppend(t, s, entries(i, i+1, size))
	}
	if st := s.Stats(); st.DiskFull || st.DroppedEntries > 0 {
		t.Fatalf("tmpfs has room: %+v", st)
	}
	hog, err := os.Create(filepath.Join(mnt, "hog"))
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	fill(t, hog) // the rest of the disk
	for i := 200; i < 400; i++ {
		if err := s.Append(entries(i, i+1, size)); err != nil {
			t.Fatalf("append %d with the disk full: %v (the spool should have dropped its oldest for room)", i, err)
		}
	}
	st := s.Stats()
	if !st.DiskFull || st.DroppedEntries == 0 {
		t.Fatalf("disk full, Stats %+v", st)
	}
	got := ids(t, peek(t, s))
	if got[len(got)-1] != 399 || len(got)+int(st.DroppedEntries) != 400 {
		t.Fatalf("kept %d ending with %d, dropped %d", len(got), got[len(got)-1], st.DroppedEntries)
	}
	// Nothing of ours left to drop: the disk is full of other files. Append fails with ENOSPC (the agent keeps such
	// records in memory and tries again), and works again once there is room.
	drain(t, s, 1000)
	s.Close()
	for _, f := range segFiles(t, dir) {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, hog)
	if s, err = Open(Options{Dir: dir, SegmentBytes: 16 << 10, MinFreeBytes: 16 << 10}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Append(entries(400, 401, size))
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a disk with no room at all: %v, want ENOSPC; %+v", err, s.Stats())
	}
	if !s.Stats().DiskFull {
		t.Fatal("ENOSPC but DiskFull not set")
	}
	if err := hog.Truncate(0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, entries(500, 501, size))
	if got := ids(t, drain(t, s, 1000)); fmt.Sprint(got) != "[500]" {
		t.Fatalf("after the disk has room again: %v", got)
	}
	if s.Stats().DiskFull {
		t.Fatal("room again, but DiskFull still set")
	}
}

func fill(t *testing.T, f *os.File) {
	t.Helper()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// A segment file deleted from the middle of the spool is logged and counted; the others are read as usual. Segments
// the spool dropped itself (full) are not reported missing.
func TestMissingMiddleSegment(t *testing.T) {
	const size = 200
	frame := int64(frameLen(&[]Entry{entry(0, size)}[0]))
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 10 * frame, MaxBytes: 80 * frame}
	s := open(t, opts)
	mustAppend(t, s, entries(0, 90, size)) // full: drops the oldest segment
	if s.Stats().DroppedEntries != 10 {
		t.Fatalf("Stats %+v, want 10 dropped", s.Stats())
	}
	s.Close()
	files := segFiles(t, dir)
	if len(files) != 8 {
		t.Fatalf("segments %v", files)
	}
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	log, lb := newLog()
	opts.Log = log
	s = open(t, opts)
	defer s.Close()
	if got := ids(t, peek(t, s)); fmt.Sprint(got) != fmt.Sprint(append(seq(10, 20), seq(30, 90)...)) {
		t.Fatalf("got %v", got)
	}
	if st := s.Stats(); st.MissingSegments != 1 {
		t.Fatalf("Stats %+v, want 1 missing segment", st)
	}
	if n := len(lb.lines("ERROR", "missing")); n != 1 {
		t.Fatalf("%d ERROR lines about missing segments, want 1:\n%s", n, lb)
	}
}

// Two agents of one node (a DaemonSet rolling update) share the state directory: the second waits for the first to
// let go instead of failing or metering alongside it.
func TestOpenWaitWaitsForTheHolder(t *testing.T) {
	dir := t.TempDir()
	first := open(t, Options{Dir: dir})
	mustAppend(t, first, entries(0, 3, 100))
	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("a second Open of a held directory succeeded")
	}
	log, lb := newLog()
	opened := make(chan *Spool, 1)
	go func() {
		s, err := OpenWait(t.Context(), Options{Dir: dir, Log: log})
		if err != nil {
			t.Error(err)
		}
		opened <- s
	}()
	select {
	case <-opened:
		t.Fatal("OpenWait did not wait for the holder")
	case <-time.After(300 * time.Millisecond):
	}
	first.Close()
	second := <-opened
	if second == nil {
		return
	}
	defer second.Close()
	if got := ids(t, peek(t, second)); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("the second spool reads %v, want what the first left", got)
	}
	if len(lb.lines("WARN", "waiting")) != 1 {
		t.Fatalf("want one WARN line about waiting:\n%s", lb)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := OpenWait(ctx, Options{Dir: dir}); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenWait with a cancelled context on a held directory: %v", err)
	}
}
