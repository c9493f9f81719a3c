package steps

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder builds steps that log what ran and fail on demand.
type recorder struct {
	log     []string
	fail    map[string]bool
	cleanup map[string]bool // cleanups that fail
}

func (r *recorder) step(name string, withCleanup bool) Step {
	s := Step{Name: name, Run: func(context.Context) error {
		r.log = append(r.log, "run "+name)
		if r.fail[name] {
			return errors.New(name + " broke")
		}
		return nil
	}}
	if withCleanup {
		s.Cleanup = func(context.Context) error {
			r.log = append(r.log, "undo "+name)
			if r.cleanup[name] {
				return errors.New("cannot undo " + name)
			}
			return nil
		}
	}
	return s
}

func TestAllStepsRun(t *testing.T) {
	r := &recorder{}
	res := Plan{Steps: []Step{r.step("a", true), r.step("b", false), r.step("c", true)}}.Run(context.Background())
	require.NoError(t, res.Err)
	assert.Equal(t, []string{"run a", "run b", "run c"}, r.log, "no cleanup after success")
	assert.Equal(t, []string{"a", "b", "c"}, res.Ran)
}

func TestFailureUndoesWhatRanNewestFirst(t *testing.T) {
	r := &recorder{fail: map[string]bool{"c": true}}
	res := Plan{Steps: []Step{r.step("a", true), r.step("b", true), r.step("c", true), r.step("d", true)}}.Run(context.Background())
	require.Error(t, res.Err)
	assert.Equal(t, "c broke", res.Err.Error(), "the step's own message")
	assert.Equal(t, "c", StepOf(res.Err))
	assert.Equal(t, []string{"run a", "run b", "run c", "undo b", "undo a"}, r.log, "the failed step is not undone unless it says so; d never ran")
	assert.NoError(t, res.CleanupErr)
}

func TestCleanupFailedUndoesTheFailedStep(t *testing.T) {
	r := &recorder{fail: map[string]bool{"b": true}}
	b := r.step("b", true)
	b.CleanupFailed = true
	res := Plan{Steps: []Step{r.step("a", true), b}}.Run(context.Background())
	require.Error(t, res.Err)
	assert.Equal(t, []string{"run a", "run b", "undo b", "undo a"}, r.log)
}

func TestFailedCleanupKeepsWhatCameBefore(t *testing.T) {
	r := &recorder{fail: map[string]bool{"c": true}, cleanup: map[string]bool{"b": true}}
	res := Plan{Steps: []Step{r.step("a", true), r.step("b", true), r.step("c", false)}}.Run(context.Background())
	require.Error(t, res.Err)
	var ce *CleanupError
	require.ErrorAs(t, res.CleanupErr, &ce)
	assert.Equal(t, "b", ce.Step)
	assert.Equal(t, []string{"run a", "run b", "run c", "undo b"}, r.log, "a is kept so that its record can still be found")
}

func TestKeepSkipsCleanups(t *testing.T) {
	r := &recorder{fail: map[string]bool{"b": true}}
	res := Plan{Steps: []Step{r.step("a", true), r.step("b", true)}, Keep: true}.Run(context.Background())
	require.Error(t, res.Err)
	assert.Equal(t, []string{"run a", "run b"}, r.log)
}

// A cancelled context stops before the next step, and the cleanups still
// run, with a context that is not cancelled.
func TestCancelStopsAndCleansUp(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted by Ctrl-C")
	var cleanupCtxErr error
	r := &recorder{}
	steps := []Step{
		{Name: "a", Run: func(context.Context) error { r.log = append(r.log, "run a"); cancel(cause); return nil },
			Cleanup: func(ctx context.Context) error {
				cleanupCtxErr = ctx.Err()
				r.log = append(r.log, "undo a")
				return nil
			}},
		r.step("b", true),
	}
	res := Plan{Steps: steps}.Run(ctx)
	require.ErrorIs(t, res.Err, cause)
	assert.Equal(t, "b", StepOf(res.Err), "names the step that did not run")
	assert.Equal(t, []string{"run a", "undo a"}, r.log)
	assert.NoError(t, cleanupCtxErr, "cleanups run on after an interruption")
}

// A step that already returns a step error (a nested plan) keeps its
// inner step name.
func TestNestedStepErrorKeepsInnerName(t *testing.T) {
	inner := &Error{Step: "provision: install docker", Err: errors.New("apt failed")}
	res := Plan{Steps: []Step{{Name: "provision", Run: func(context.Context) error { return inner }}}}.Run(context.Background())
	assert.Equal(t, "provision: install docker", StepOf(res.Err))
}
