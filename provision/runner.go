package provision

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Defaults of Runner.
const (
	DefaultDockerTimeout = 2 * time.Minute
	DefaultDialTimeout   = 10 * time.Second
)

// Runner provisions machines over SSH. It holds no per-machine state, so
// one Runner serves concurrent operations on different machines.
type Runner struct {
	// Connect opens the one SSH connection an operation uses.
	Connect ConnectFunc
	// StoreRoot is the store directory; the machine directory is
	// <StoreRoot>/machines/<name>. Empty: AuthOptions.StorePath.
	StoreRoot string
	// DockerTimeout bounds the wait for the daemon to answer over TLS
	// (default 2 minutes).
	DockerTimeout time.Duration
	// DialTimeout bounds each TLS attempt (default 10 s).
	DialTimeout time.Duration
	// Report, when set, receives the result of every operation, failed
	// ones included (benchmarks, debugging).
	Report func(h *host.Host, r *Result)
}

// Op selects what Run does.
type Op int

const (
	// OpProvision: detect, hostname, install Docker when missing,
	// certificates, daemon configuration, restart when something
	// changed, wait for TLS.
	OpProvision Op = iota
	// OpRegenerateCerts: a new server certificate, upload, restart,
	// wait. Never installs or upgrades Docker.
	OpRegenerateCerts
	// OpUpgrade: upgrade Docker through the install method, restart, wait.
	OpUpgrade
)

func (o Op) String() string {
	switch o {
	case OpProvision:
		return "provision"
	case OpRegenerateCerts:
		return "regenerate-certs"
	case OpUpgrade:
		return "upgrade"
	}
	return "op" + strconv.Itoa(int(o))
}

// Phase is the duration of one step.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Result tells what an operation did.
type Result struct {
	Op          Op
	Provisioner string // e.g. "debian"
	DockerdPath string
	// InstalledDocker / UpgradedDocker: the install or upgrade command ran.
	InstalledDocker bool
	UpgradedDocker  bool
	HostnameChanged bool
	// NewServerCert: a server certificate was generated locally.
	NewServerCert bool
	// Written lists the remote files (re)written.
	Written []string
	// Restarted: the daemon was (re)started.
	Restarted bool
	// EnabledDocker: docker.service was enabled to start at boot.
	EnabledDocker bool
	// Commands counts remote commands (SSH round trips).
	Commands int
	// Phases in order: connect, detect, install|upgrade, certs,
	// docker-config, tls-wait (those that ran).
	Phases []Phase
}

// Changed reports whether the operation changed anything on the host or
// in the machine directory.
func (r *Result) Changed() bool {
	return r.InstalledDocker || r.UpgradedDocker || r.HostnameChanged || r.NewServerCert || len(r.Written) > 0 || r.Restarted || r.EnabledDocker
}

// PhaseDuration returns the time spent in the named phase.
func (r *Result) PhaseDuration(name string) time.Duration {
	var d time.Duration
	for _, p := range r.Phases {
		if p.Name == name {
			d += p.Duration
		}
	}
	return d
}

// StageError is the failure of one stage of an operation. Its text is
// what users have always seen: the operation's prefix, if the stage has
// one ("Error running provisioning: "), then the cause. Stage names the
// stage that failed, the operation first ("provision: install docker"),
// for grouping failures; Stages lists them.
type StageError struct {
	Op    Op
	Stage string
	Err   error
	// prefix is the text before the cause ("" = the cause alone).
	prefix string
}

func (e *StageError) Error() string {
	if e.prefix == "" {
		return e.Err.Error()
	}
	return e.prefix + ": " + e.Err.Error()
}

func (e *StageError) Unwrap() error { return e.Err }

// StageName is the stage's full name ("provision: install docker"), for
// the crash reporter's error class.
func (e *StageError) StageName() string { return e.Stage }

// stage is one step of an operation.
type stage struct {
	// name, after the operation's, is StageError.Stage.
	name string
	// phase, when set, times the stage as a Result phase and a log.Step.
	phase string
	// info is an Info line logged before the stage starts.
	info string
	// errPrefix comes before the cause when the stage fails.
	errPrefix string
	// skip, when set, tells that the stage has nothing to do.
	skip func(*session) bool
	run  func(*session) error
}

// The text before the cause of a failed stage, as users have always seen
// it: the session's connect and detect report "Error detecting OS", the
// stages of each operation the operation's error.
const (
	errDetecting    = "Error detecting OS"
	errProvisioning = "Error running provisioning"
	errRegenerating = "Error regenerating certificates"
	errUpgrading    = "Error upgrading Docker"
)

// sessionStages open every operation: check the host, open the SSH
// connection, probe the host and detect its OS.
var sessionStages = []stage{
	{name: "check host", run: (*session).checkHost},
	{name: "connect", phase: "connect", errPrefix: errDetecting, run: (*session).connect},
	{name: "detect os", phase: "detect", info: "Detecting the provisioner...", errPrefix: errDetecting, run: (*session).detect},
}

// operations are the stages of each operation after sessionStages, in
// order.
var operations = map[Op][]stage{
	OpProvision: {
		{name: "check engine options", errPrefix: errProvisioning, run: (*session).checkEngineOptions},
		{name: "read endpoint", errPrefix: errProvisioning, run: (*session).endpoint},
		{name: "install docker", phase: "install", errPrefix: errProvisioning, run: (*session).install, skip: (*session).dockerInstalled},
		{name: "prepare certificates", phase: "certs", errPrefix: errProvisioning, run: (*session).prepareCerts},
		{name: "configure docker", phase: "docker-config", errPrefix: errProvisioning, run: (*session).configureDocker},
		{name: "wait for docker", phase: "tls-wait", errPrefix: errProvisioning, run: (*session).waitReady},
	},
	OpRegenerateCerts: {
		{name: "check docker", errPrefix: errRegenerating, run: (*session).requireDocker},
		{name: "read endpoint", errPrefix: errRegenerating, run: (*session).endpoint},
		{name: "new server certificate", phase: "certs", errPrefix: errRegenerating, run: (*session).renewCerts},
		{name: "upload certificates", phase: "docker-config", errPrefix: errRegenerating, run: (*session).uploadCerts},
		{name: "wait for docker", phase: "tls-wait", errPrefix: errRegenerating, run: (*session).waitReady},
	},
	OpUpgrade: {
		{name: "check upgrade", errPrefix: errUpgrading, run: (*session).checkUpgrade},
		{name: "read endpoint", errPrefix: errUpgrading, run: (*session).endpoint},
		{name: "render upgrade script", errPrefix: errUpgrading, run: (*session).renderUpgrade},
		{name: "upgrade docker", phase: "upgrade", errPrefix: errUpgrading, run: (*session).upgradeDocker},
		{name: "restart docker", phase: "docker-config", errPrefix: errUpgrading, run: (*session).restartUpgraded},
		{name: "wait for docker", phase: "tls-wait", errPrefix: errUpgrading, run: (*session).waitReady},
	},
}

// Stages returns the names of op's stages in order, as StageError.Stage
// reports them ("provision: connect", ...); nil for an unknown op.
func Stages(op Op) []string {
	stages, ok := operations[op]
	if !ok {
		return nil
	}
	var out []string
	for _, st := range slices.Concat(sessionStages, stages) {
		out = append(out, stageName(op, st))
	}
	return out
}

func stageName(op Op, st stage) string { return op.String() + ": " + st.name }

// Provision runs the full provisioning; it satisfies libmachine.Provisioner.
func (r *Runner) Provision(ctx context.Context, h *host.Host) error {
	_, err := r.Run(ctx, h, OpProvision)
	return err
}

// RegenerateCerts replaces the server certificate, uploads it, restarts
// Docker and waits for it. It never installs or upgrades Docker.
func (r *Runner) RegenerateCerts(ctx context.Context, h *host.Host) error {
	_, err := r.Run(ctx, h, OpRegenerateCerts)
	return err
}

// Upgrade upgrades Docker through the machine's install method, restarts
// it and waits for it. ErrUpgradeNotSupported for boot2docker/CoreOS.
func (r *Runner) Upgrade(ctx context.Context, h *host.Host) error {
	_, err := r.Run(ctx, h, OpUpgrade)
	return err
}

// Run performs op on h over one SSH connection and reports what it did.
// A failed stage is a *StageError.
func (r *Runner) Run(ctx context.Context, h *host.Host, op Op) (*Result, error) {
	res := &Result{Op: op}
	defer func() {
		log.Debugf("ssh: %d remote commands", res.Commands)
		if r.Report != nil {
			r.Report(h, res)
		}
	}()
	stages, ok := operations[op]
	if !ok {
		return res, fmt.Errorf("provision: unknown operation %v", op)
	}
	s := &session{ctx: ctx, r: r, h: h, res: res}
	defer s.close()
	for _, st := range slices.Concat(sessionStages, stages) {
		if err := s.runStage(st); err != nil {
			return res, &StageError{Op: op, Stage: stageName(op, st), Err: err, prefix: st.errPrefix}
		}
	}
	return res, nil
}

// runStage runs one stage, as a phase when it has one.
func (s *session) runStage(st stage) error {
	if st.skip != nil && st.skip(s) {
		return nil
	}
	if st.info != "" {
		log.Info(st.info)
	}
	if st.phase == "" {
		return st.run(s)
	}
	return s.phase(st.phase, func() error { return st.run(s) })
}

// phase runs one step of the operation as a log.Step (the debug trace's
// `timing: NAME DURATION` line) and records its duration in the result.
func (s *session) phase(name string, fn func() error) error {
	done := log.Step(name)
	err := fn()
	s.res.Phases = append(s.res.Phases, Phase{Name: name, Duration: done(err)})
	return err
}
