package spelling

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"azure", "aws", "gcp", "oracle_cloud", "coreweave", "on_prem"}
	for _, tc := range []struct {
		word, want string
		ok         bool
	}{
		{"azur", "azure", true},
		{"auzre", "azure", true},
		{"orcle_cloud", "oracle_cloud", true},
		{"corewave", "coreweave", true},
		{"awz", "aws", true},
		{"lambda", "", false},
		{"x", "", false},
	} {
		got, ok := Closest(tc.word, known)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tc.word, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Closest("azure", nil); ok {
		t.Error("a match among no candidates")
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"abc", "acb", 1}, {"kitten", "sitting", 3}} {
		if got := distance(tc.a, tc.b); got != tc.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}
