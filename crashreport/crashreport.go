// Package crashreport sends a report to Bugsnag when create or upgrade
// fails or a command panics: the version and build, OS and architecture,
// the user's shell, the command's log history (every line, shown or
// not, as -D shows them) and the step that failed, whose name is the
// report's error class ("provision: install docker"), so that reports
// group by cause. docs/crash-reporting.md describes what is sent.
//
// A report is not sent when the user opted out (a no-error-report file
// in the store, or the token "no-report" by --bugsnag-api-token or
// MACHINE_BUGSNAG_API_TOKEN) or when there is no API key: a token given
// by flag or environment replaces the key built in with -ldflags
// (BuiltinAPIKey), which builds from source do not have.
//
// Sending never fails the command and never changes its exit code: it
// returns within Budget whatever the endpoint does, and what went wrong
// is a debug line. Every text of a report goes through one masker
// (redact.Masker): the values of secret flags and of secret-looking
// environment variables, wherever they appear, and whatever
// redact.String recognises by shape.
package crashreport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/redact"
)

const (
	// OptOutFile in the store directory turns reports off; its content
	// does not matter.
	OptOutFile = "no-error-report"
	// NoReport as the API token turns reports off.
	NoReport = "no-report"
	// EndpointEnv overrides the notify endpoint (self-hosted Bugsnag).
	EndpointEnv = "MACHINE_BUGSNAG_ENDPOINT"
	// DefaultEndpoint is Bugsnag's notify endpoint.
	DefaultEndpoint = "https://notify.bugsnag.com"
	// Budget bounds the time a report may add to the command, from the
	// moment Send is called until it returns: gathering, connecting,
	// TLS, sending and waiting for the answer. It leaves a second of the
	// three the command may be delayed by for the process to exit.
	Budget = 2 * time.Second
)

// BuiltinAPIKey is the Bugsnag project key reports go to when no token
// is given. Builds set it with
// -ldflags "-X github.com/docker-machine-ng/machine/crashreport.BuiltinAPIKey=KEY";
// without it, only a token given by flag or environment sends reports.
var BuiltinAPIKey = ""

// Settings are where a report goes and whether it may be sent.
type Settings struct {
	// StorePath is the store root, where OptOutFile is looked for.
	StorePath string
	// Token is --bugsnag-api-token (or MACHINE_BUGSNAG_API_TOKEN):
	// NoReport, an API key, or "" for BuiltinAPIKey.
	Token string
	// Getenv reads the environment (EndpointEnv, SHELL).
	Getenv func(string) string
	// Environ lists the environment, for the values of secret-looking
	// variables that must be masked; nil means os.Environ.
	Environ func() []string
	// Stderr gets the one line saying a report was sent.
	Stderr io.Writer
	// History returns the command's log, masked as a whole by mask;
	// nil means log.MaskedHistory.
	History func(mask func(string) string) string
}

// Failure is what a report is about: a failed operation or a panic.
type Failure struct {
	// Command is the subcommand ("create", "upgrade", "ls").
	Command string
	// Driver is the machine's driver, when there is one.
	Driver string
	// Step names what the command was doing when it failed, for a
	// failure with no step or stage of its own ("start" in upgrade).
	Step string
	// Err is the failure; its chain names the step (steps.Error) and
	// the provisioning stage (see Class).
	Err error
	// Message is the text the user saw; "" means Err's.
	Message string
	// Panic is the value a panic was recovered with; Err is then nil.
	Panic any
	// Stack is the program counters of the failure (runtime.Callers);
	// nil means Send's caller.
	Stack []uintptr
	// Secrets are values known to be secret (the values of secret
	// flags); they are masked wherever they appear.
	Secrets []string
	// Args is the command line; the values of flags named like secrets
	// (mcnflag.IsSecretName) are masked too. It is not sent.
	Args []string
}

// ErrNoKey is Decision's answer when there is no API key: no token was
// given and none is built in (a build from source). Send says nothing
// then, not even with -D: reporting is simply not set up.
var ErrNoKey = errors.New("no API key: none is built in, and no token was given (--bugsnag-api-token, MACHINE_BUGSNAG_API_TOKEN)")

// Decision tells whether a report may be sent: the API key and the
// endpoint, or why not.
func (s Settings) Decision() (key, endpoint string, err error) {
	if s.Token == NoReport {
		return "", "", errors.New("opted out (the API token is " + NoReport + ")")
	}
	if s.StorePath != "" {
		if _, err := os.Stat(filepath.Join(s.StorePath, OptOutFile)); err == nil {
			return "", "", fmt.Errorf("opted out (%s exists)", filepath.Join(s.StorePath, OptOutFile))
		}
	}
	key = s.Token
	if key == "" {
		key = BuiltinAPIKey
	}
	if key == "" {
		return "", "", ErrNoKey
	}
	if !validKey(key) {
		return "", "", errors.New("the API token is not a Bugsnag API key (32 hexadecimal digits)")
	}
	endpoint = DefaultEndpoint
	if s.Getenv != nil {
		if e := s.Getenv(EndpointEnv); e != "" {
			endpoint = e
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", "", fmt.Errorf("%s is not an https:// URL", EndpointEnv)
	}
	return key, endpoint, nil
}

// validKey: Bugsnag's keys are 32 hexadecimal digits; bugsnag-go refuses
// other lengths (and would log the key).
func validKey(k string) bool {
	if len(k) != 32 {
		return false
	}
	for _, c := range k {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// Send reports f, unless Settings.Decision says no, and prints one line
// on Stderr when Bugsnag accepted it. It returns within Budget (ctx
// ending cuts it short: a second Ctrl-C) and reports whether the report
// was accepted; why not is a debug line.
func Send(ctx context.Context, s Settings, f Failure) bool {
	ctx, cancel := context.WithTimeoutCause(ctx, Budget, fmt.Errorf("no answer within %s", Budget))
	defer cancel()
	if f.Stack == nil {
		f.Stack = callers(3)
	}
	key, endpoint, err := s.Decision()
	if err != nil {
		if err != ErrNoKey {
			log.Debugf("crash report: not sent: %v", err)
		}
		return false
	}
	m := newMasker(s, f, key)
	r := build(ctx, s, f, m)
	log.Debugf("crash report: sending %q to %s", r.class, m.String(endpoint))
	if err := deliver(ctx, key, endpoint, r, m); err != nil {
		log.Debugf("crash report: not sent: %s", m.String(err.Error()))
		return false
	}
	if s.Stderr != nil {
		fmt.Fprintf(s.Stderr, "A crash report was sent to help fix this error; to stop sending them, create the file %s (or use --bugsnag-api-token %s).\n",
			filepath.Join(s.StorePath, OptOutFile), NoReport)
	}
	return true
}

// callers returns the program counters of the stack, skip frames up.
func callers(skip int) []uintptr {
	pcs := make([]uintptr, 64)
	return pcs[:runtime.Callers(skip+1, pcs)]
}

// newMasker masks the API key, the failure's secrets, the values of
// secret flags on its command line and of secret-looking environment
// variables (redact.SecretKey names: AWS_SECRET_ACCESS_KEY,
// DIGITALOCEAN_ACCESS_TOKEN, MACHINE_GITHUB_API_TOKEN…).
func newMasker(s Settings, f Failure, key string) *redact.Masker {
	values := append([]string{key, s.Token}, f.Secrets...)
	values = append(values, argSecrets(f.Args)...)
	environ := s.Environ
	if environ == nil {
		environ = os.Environ
	}
	values = append(values, envSecrets(environ())...)
	return redact.NewMasker(values...)
}
