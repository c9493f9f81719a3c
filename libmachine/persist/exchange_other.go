//go:build !linux

package persist

import (
	"errors"
	"syscall"
)

// exchange is not available: Publish replaces the link in two steps.
func exchange(a, b string) error { return errors.ErrUnsupported }

func isNotEmpty(err error) bool { return errors.Is(err, syscall.ENOTEMPTY) }
