package attribution

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// podUIDInCgroup finds a pod UID in a cgroup path. The kubelet names a pod's cgroup pod<uid> with the cgroupfs driver
// (/kubepods/burstable/pod1234abcd-…/<container>) and kubepods-<qos>-pod<uid with _ for ->.slice with the systemd
// driver (…/kubepods-burstable-pod1234abcd_….slice/cri-containerd-<id>.scope, or crio-<id>.scope under CRI-O).
var podUIDInCgroup = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)

// Cgroups maps a process to the pod it runs in through /proc/<pid>/cgroup (cgroup v1 and v2, cgroupfs and systemd
// drivers, containerd and CRI-O). Root is the host's /proc: with hostPID the agent's own /proc.
type Cgroups struct{ Root string }

// PodUID returns the UID of the pod that process pid runs in; false for a process outside any pod (or gone).
func (c Cgroups) PodUID(pid uint32) (string, bool) {
	root := c.Root
	if root == "" {
		root = "/proc"
	}
	f, err := os.Open(filepath.Join(root, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", false
	}
	defer func() { _ = f.Close() }()
	uid, err := PodUIDFromCgroup(f)
	return uid, err == nil && uid != ""
}

// PodUIDFromCgroup reads a /proc/<pid>/cgroup file: lines hierarchy-ID:controllers:path (v1 has one per controller,
// v2 the single line 0::path). The first path naming a pod wins.
func PodUIDFromCgroup(f *os.File) (string, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if m := podUIDInCgroup.FindStringSubmatch(parts[2]); m != nil {
			return strings.ReplaceAll(m[1], "_", "-"), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return "", nil
}
