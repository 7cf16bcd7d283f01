package store

import (
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/testenv"
)

func TestOpenUnreachableNamesAddress(t *testing.T) {
	_, err := Open(t.Context(), Config{Addr: []string{"127.0.0.1:1"}, Database: "x", DialTimeout: time.Second}, testenv.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %v does not name the address", err)
	}
}
