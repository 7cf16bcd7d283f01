package spool

import "errors"

// errLocked is returned by lockDir when another open Spool holds the directory.
var errLocked = errors.New("locked")
