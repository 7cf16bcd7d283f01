package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	for _, content := range []string{"first", "second, longer than the first", "3"} {
		if err := WriteFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("read %q, want %q", got, content)
		}
		if _, err := os.Stat(path + TempSuffix); !os.IsNotExist(err) {
			t.Errorf("temporary file left behind: %v", err)
		}
	}
}

func TestWriteFileFailsInMissingDirectory(t *testing.T) {
	err := WriteFile(filepath.Join(t.TempDir(), "missing", "state"), []byte("x"))
	if err == nil {
		t.Fatal("wrote into a directory that does not exist")
	}
}
