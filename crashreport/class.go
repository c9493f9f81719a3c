package crashreport

import (
	"errors"
	"reflect"

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

// Stage returns the stage err failed in: a Stager's StageName, else the
// exported string field Stage of an error in the chain (provision's
// StageError names its stage so), else "".
func Stage(err error) string {
	var s Stager
	if errors.As(err, &s) {
		return s.StageName()
	}
	var found string
	walk(err, func(e error) bool {
		found = stageField(e)
		return found != ""
	})
	return found
}

// walk calls f on err and every error it wraps, depth first, until f
// returns true.
func walk(err error, f func(error) bool) bool {
	if err == nil {
		return false
	}
	if f(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walk(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walk(e, f) {
				return true
			}
		}
	}
	return false
}

// stageField reads e.Stage when e is a struct, or a pointer to one, with
// an exported string field of that name.
func stageField(e error) string {
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	fv := v.FieldByName("Stage")
	if !fv.IsValid() || fv.Kind() != reflect.String {
		return ""
	}
	if sf, _ := v.Type().FieldByName("Stage"); !sf.IsExported() {
		return ""
	}
	return fv.String()
}
