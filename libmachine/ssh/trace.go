package ssh

import (
	"errors"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/redact"
)

// maxCommandShown bounds a command in the debug trace. Provisioning
// scripts are kilobytes long; their step name is logged by provision.
const maxCommandShown = 300

// shown is a command as the debug trace shows it: secrets masked first
// (so a cut cannot split one), then on one line and shortened.
func shown(cmd string) string {
	return log.Shorten(redact.String(cmd), maxCommandShown)
}

// name is user@host:port, as trace lines name the target.
func (t Target) name() string {
	if t.User == "" {
		return t.addr()
	}
	return t.User + "@" + t.addr()
}

// traceCommand logs a command about to run on t through the native
// client and returns the function that logs how it ended.
func traceCommand(t Target, cmd string) func(err error) {
	if cmd == "" {
		log.Debugf("ssh: %s (native) login shell", t.name())
	} else {
		log.Debugf("ssh: %s (native) $ %s", t.name(), shown(cmd))
	}
	return traceEnd(t, time.Now())
}

// traceExec logs an invocation of the ssh binary: the program and its
// options as a shell would take them, then, after `$`, the last ncmd
// arguments as the remote shell receives them (ssh joins them with
// blanks), masked and shortened. It returns the function that logs how
// it ended.
func traceExec(t Target, what, binary string, argv []string, ncmd int) func(err error) {
	ncmd = min(ncmd, len(argv))
	words := make([]string, 0, len(argv)+2)
	words = append(words, shellWord(binary))
	for _, a := range argv[:len(argv)-ncmd] {
		words = append(words, shellWord(a))
	}
	if ncmd > 0 {
		words = append(words, "$", shown(strings.Join(argv[len(argv)-ncmd:], " ")))
	}
	log.Debugf("ssh: %s: exec %s", what, strings.Join(words, " "))
	return traceEnd(t, time.Now())
}

// traceEnd logs `ssh: TARGET -> exit N in DURATION`, or the transport
// error instead of the exit status.
func traceEnd(t Target, start time.Time) func(err error) {
	return func(err error) {
		d := log.Duration(time.Since(start))
		var ee *ExitError
		switch {
		case err == nil:
			log.Debugf("ssh: %s -> exit 0 in %s", t.name(), d)
		case errors.As(err, &ee):
			log.Debugf("ssh: %s -> exit %d in %s", t.name(), ee.Code, d)
		default:
			log.Debugf("ssh: %s -> error in %s: %s", t.name(), d, shown(err.Error()))
		}
	}
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// dialTrace logs a native connection attempt and returns the function
// that logs its result.
func dialTrace(t Target) func(err error) {
	log.Debugf("ssh: %s (native) dialing, timeout %s", t.name(), t.connectTimeout())
	start := time.Now()
	return func(err error) {
		d := log.Duration(time.Since(start))
		if err != nil {
			log.Debugf("ssh: %s (native) connection failed in %s: %s", t.name(), d, shown(err.Error()))
			return
		}
		log.Debugf("ssh: %s (native) connected in %s", t.name(), d)
	}
}
