// Package atomicfile replaces small files so that a crash leaves the old content or the new, never a torn mix. The
// spool's ack file and the agent's checkpoint are written through it.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// TempSuffix names the temporary file WriteFile writes before renaming it over the target: path + TempSuffix. A
// leftover one (a crash between write and rename) holds nothing that the target does not and may be deleted.
const TempSuffix = ".tmp"

// WriteFile replaces path with data: write path+TempSuffix, fsync it, rename it over path, fsync the directory. Only
// one writer per path may run at a time (the agent's state directory is locked by one process).
func WriteFile(path string, data []byte) error {
	tmp := path + TempSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s over %s: %w", tmp, path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes the directory's entries (created, renamed, removed files) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
