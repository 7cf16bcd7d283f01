package attribution

import "testing"

func TestCgroupsPodUID(t *testing.T) {
	c := Cgroups{Root: "testdata/proc"}
	for _, tc := range []struct {
		pid    uint32
		layout string
		want   string
	}{
		{101, "v2, systemd driver, containerd", "0a1b2c3d-0000-4000-8000-000000000101"},
		{102, "v2, cgroupfs driver", "0a1b2c3d-0000-4000-8000-000000000102"},
		{103, "v1, cgroupfs driver", "0a1b2c3d-0000-4000-8000-000000000103"},
		{104, "v1, systemd driver, guaranteed QoS, docker", "0a1b2c3d-0000-4000-8000-000000000104"},
		{105, "v2, systemd driver, CRI-O", "0a1b2c3d-0000-4000-8000-000000000105"},
		{106, "not in a pod", ""},
		{107, "v1, cgroupfs, guaranteed QoS, CRI-O", "0a1b2c3d-0000-4000-8000-000000000107"},
		{108, "v2 seen from the agent's own cgroup namespace (paths relative to it)", "0a1b2c3d-0000-4000-8000-000000000108"},
		{999, "process gone", ""},
	} {
		got, ok := c.PodUID(tc.pid)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: pid %d -> %q, %v; want %q", tc.layout, tc.pid, got, ok, tc.want)
		}
	}
}
