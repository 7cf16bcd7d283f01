package schema

import (
	"strconv"
	"testing"
)

// Rounded values print as the decimal they were rounded to: no float noise on the wire.
func TestRoundPrintsShort(t *testing.T) {
	var noisy float64
	for range 420 {
		noisy += 0.1 // 42.00000000000031
	}
	for _, tc := range []struct {
		v        float64
		decimals int
		want     string
	}{
		{noisy, SecondsDecimals, "42"},
		{59.9996123456789, SecondsDecimals, "59.999612346"},
		{60.000000000000014, SecondsDecimals, "60"},
		{1234.56789, JoulesDecimals, "1234.568"},
		{699.9999999, WattsDecimals, "700"},
		{8.5e10 + 0.4, BytesDecimals, "8.5e+10"},
	} {
		if got := strconv.FormatFloat(Round(tc.v, tc.decimals), 'g', -1, 64); got != tc.want {
			t.Errorf("Round(%v, %d) prints %s, want %s", tc.v, tc.decimals, got, tc.want)
		}
	}
}
