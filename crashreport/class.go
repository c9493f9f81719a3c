package crashreport

import (
	"errors"

	"github.com/docker-machine-ng/machine/libmachine/steps"
)

// Stager is an error that names the stage of an operation it failed in,
// the operation first: "provision: install docker", "upgrade: check
// upgrade".
type Stager interface {
	StageName() string
}

// Class is the error class of a failure: what failed, so that reports
// group by cause. It is the provisioning stage when the chain has one
// ("provision: install docker"), else the command and its step
// ("create: driver-create", "upgrade: start"), else the command; a panic
// is "panic: COMMAND".
func Class(f Failure) string {
	if f.Panic != nil {
		return "panic: " + f.Command
	}
	if st := Stage(f.Err); st != "" {
		return st
	}
	if step := StepOf(f); step != "" {
		return f.Command + ": " + step
	}
	return f.Command
}

// StepOf is the failure's step: the create step its error failed in
// (steps.StepOf), else Failure.Step.
func StepOf(f Failure) string {
	if s := steps.StepOf(f.Err); s != "" {
		return s
	}
	return f.Step
}

// Stage returns the stage err failed in (a Stager in its chain:
// provision's StageError), else "".
func Stage(err error) string {
	var s Stager
	if errors.As(err, &s) {
		return s.StageName()
	}
	return ""
}
