package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/gpumeter/gpumeter/agent/atomicfile"
	"github.com/gpumeter/gpumeter/agent/window"
)

// CheckpointFile is the checkpoint's name in the state directory.
const CheckpointFile = "checkpoint.json"

// WriteCheckpoint stores c at path atomically: a crash leaves the old file or the new one, never a torn one.
func WriteCheckpoint(path string, c window.Checkpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// ReadCheckpoint loads the checkpoint at path; ok is false when there is none.
func ReadCheckpoint(path string) (c window.Checkpoint, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return window.Checkpoint{}, false, nil
	}
	if err != nil {
		return window.Checkpoint{}, false, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return window.Checkpoint{}, false, fmt.Errorf("checkpoint %s is unreadable: %w", path, err)
	}
	return c, true, nil
}
