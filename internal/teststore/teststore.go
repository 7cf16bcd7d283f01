// Package teststore gives a test a migrated gpumeter database of its own on the real ClickHouse, dropped when the
// test ends. (A package apart from testenv, because collector/store's own tests use testenv.)
package teststore

import (
	"testing"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// Migrated opens a fresh database with the whole schema applied.
func Migrated(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{Addr: []string{testenv.ClickHouseAddr(t)}, Database: testenv.Database(t),
		User: "default"}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}
