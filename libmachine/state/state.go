// Package state holds the power states a machine can be in.
package state

import "strings"

// State is a machine's power state. The numeric values are those of the
// original's RPC protocol and must not change.
type State int

const (
	None State = iota
	Running
	Paused
	Saved
	Stopped
	Stopping
	Starting
	Error
	Timeout
)

var names = []string{"", "Running", "Paused", "Saved", "Stopped", "Stopping", "Starting", "Error", "Timeout"}

// String returns the name printed by `status` and `ls`; None prints as "".
func (s State) String() string {
	if int(s) >= 0 && int(s) < len(names) {
		return names[s]
	}
	return ""
}

// Parse returns the state named s, compared without regard to case.
func Parse(s string) (State, bool) {
	for i, n := range names {
		if strings.EqualFold(n, s) {
			return State(i), true
		}
	}
	return None, false
}
