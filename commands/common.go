package commands

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/host"
)

const defaultMachineName = "default"

var errNoDefault = errors.New(`Error: No machine name(s) specified and no "default" machine exists`)

func errOneMachine(app, cmd string) error {
	return &usageError{msg: "Error: Expected one machine name as an argument", help: app + " " + cmd + " --help"}
}

func errSomeMachines(app, cmd string) error {
	return &usageError{msg: "Error: Expected to get one or more machine names as arguments", help: app + " " + cmd + " --help"}
}

// targetName picks the single machine a command acts on, falling back to
// "default" when it exists.
func (r *session) targetName(cmd *cli.Command) (string, error) {
	a := args(cmd)
	switch len(a) {
	case 0:
		ok, err := r.api.Store.Exists(defaultMachineName)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", errNoDefault
		}
		return defaultMachineName, nil
	case 1:
		return a[0], nil
	default:
		return "", errOneMachine(r.appName, cmd.Name)
	}
}

// loadTarget loads the machine named by the single argument or default.
func (r *session) loadTarget(cmd *cli.Command) (*host.Host, error) {
	name, err := r.targetName(cmd)
	if err != nil {
		return nil, err
	}
	return r.api.Store.Load(name)
}

// targetNames is the multi-machine form: the arguments, or "default".
func (r *session) targetNames(cmd *cli.Command) ([]string, error) {
	if a := args(cmd); len(a) > 0 {
		return a, nil
	}
	ok, err := r.api.Store.Exists(defaultMachineName)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoDefault
	}
	return []string{defaultMachineName}, nil
}

// hostAction runs on one loaded machine.
type hostAction func(h *host.Host) error

// runAction loads every named machine (any load error stops everything),
// then runs the action on all of them concurrently. When save is set,
// each machine is locked while its action runs and saved afterwards;
// read-only actions neither lock nor write.
func (r *session) runAction(cmd *cli.Command, save bool, action hostAction) error {
	names, err := r.targetNames(cmd)
	if err != nil {
		return err
	}
	hosts := make([]*host.Host, len(names))
	var loadErrs []string
	for i, n := range names {
		h, err := r.api.Store.Load(n)
		if err != nil {
			loadErrs = append(loadErrs, err.Error())
			continue
		}
		hosts[i] = h
	}
	if len(loadErrs) > 0 {
		return errors.New(strings.Join(loadErrs, "\n"))
	}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			// Done only when the action returns: after a panic, Wait must
			// not return (Run would exit 0 before the re-raised panic
			// ends the process with 2).
			defer r.recoverPanic()
			if panicHook != nil {
				panicHook("action")
			}
			errs[i] = r.act(h, save, action)
			wg.Done()
		}()
	}
	wg.Wait()
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "\n"))
	}
	return nil
}

func (r *session) act(h *host.Host, save bool, action hostAction) error {
	if !save {
		return action(h)
	}
	lock, err := r.api.Store.LockContext(r.ctx, h.Name)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	// Re-read under the lock: another process may have changed it.
	fresh, err := r.api.Store.Load(h.Name)
	if err != nil {
		return err
	}
	*h = *fresh
	before, _ := h.Marshal()
	actErr := action(h)
	if actErr != nil {
		// A failed action that changed nothing leaves config.json as it
		// was (not migrated, unknown driver fields kept).
		if after, err := h.Marshal(); err == nil && bytes.Equal(before, after) {
			return actErr
		}
	}
	if err := r.api.Store.Save(h); err != nil {
		return errors.Join(actErr, fmt.Errorf("Error saving host to store: %w", err))
	}
	return actErr
}

// confirm asks a y/n question on stdout and reads the answer from stdin;
// no answer is "no".
func (r *session) confirm(question string) (bool, error) { return r.ask(question, false) }

// confirmStrict is confirm as regenerate-certs asks: as the original
// (fmt.Scanln), no answer at all fails with "EOF" and an empty line with
// "unexpected newline", exit status 1.
func (r *session) confirmStrict(question string) (bool, error) { return r.ask(question, true) }

func (r *session) ask(question string, strict bool) (bool, error) {
	fmt.Fprint(r.Stdout, question)
	line, err := bufio.NewReader(r.Stdin).ReadString('\n')
	switch {
	case line == "" && errors.Is(err, io.EOF):
		if strict {
			return false, errors.New("EOF")
		}
		return false, nil
	case err != nil && !errors.Is(err, io.EOF):
		return false, fmt.Errorf("reading the answer: %w", err)
	case strict && strings.TrimRight(line, "\r\n") == "":
		return false, errors.New("unexpected newline")
	}
	line = strings.TrimSpace(line)
	return strings.HasPrefix(line, "y") || strings.HasPrefix(line, "Y"), nil
}
