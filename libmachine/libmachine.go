// Package libmachine ties the store, the drivers, the certificates and the
// provisioners into the operations the commands perform, create first.
package libmachine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/persist"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/state"
	"github.com/docker-machine-ng/machine/libmachine/steps"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// Provisioner turns a machine the driver created into a Docker host:
// SSH, OS detection, Docker install, certificates, daemon configuration.
type Provisioner interface {
	Provision(ctx context.Context, h *host.Host) error
}

// EngineBootRenderer is a Provisioner that renders, before the machine
// exists, the files its provisioning will write (provision.Runner), for
// drivers whose guests apply them at their first boot.
type EngineBootRenderer interface {
	EngineBootFiles(ctx context.Context, h *host.Host, g drivers.EngineGuest) ([]drivers.EngineFile, error)
}

// API performs machine operations on one store.
type API struct {
	Store *persist.Store
	// Provisioner configures machines after the driver made them; drivers
	// that manage no host (none) skip it.
	Provisioner Provisioner
	// Checker verifies the daemon is reachable at the end of create; nil
	// skips the check.
	Checker func(ctx context.Context, h *host.Host) error
	// NativeSSH forces the Go SSH client; otherwise the external ssh
	// binary is used when installed (looked up only when SSH is needed).
	NativeSSH bool
}

// New returns an API on the store at root.
func New(root string) *API {
	return &API{Store: persist.New(root)}
}

// PreCreateError wraps a failed driver pre-create check (exit code 3).
type PreCreateError struct{ Err error }

func (e *PreCreateError) Error() string {
	return fmt.Sprintf("Error with pre-create check: %q", e.Err.Error())
}
func (e *PreCreateError) Unwrap() error { return e.Err }

// CreateError is a create failure after the machine was recorded.
type CreateError struct {
	Err error
	// Kept says the machine was left in place (--keep-on-failure) or
	// could not be cleaned up (CleanupErr).
	Kept       bool
	CleanupErr error
	Name       string
}

func (e *CreateError) Error() string {
	// The first line is the original's; what happened to the machine is
	// ours and follows it.
	msg := "Error creating machine: " + e.Err.Error()
	switch {
	case e.CleanupErr != nil:
		msg += fmt.Sprintf("\nRemoving what was created also failed: %v\nRemove the machine with \"docker-machine rm -f %s\".", e.CleanupErr, e.Name)
	case e.Kept:
		msg += fmt.Sprintf("\nThe machine was kept because of --keep-on-failure; remove it with \"docker-machine rm -f %s\".", e.Name)
	default:
		msg += "\nEverything the failed create made was removed."
	}
	return msg
}
func (e *CreateError) Unwrap() error { return e.Err }

// DefaultAuthOptions returns the certificate paths for a new machine.
// Empty overrides mean the store's own certs directory.
func (a *API) DefaultAuthOptions(name, caCert, caKey, clientCert, clientKey string) *auth.Options {
	certs := a.Store.CertsDir()
	pick := func(v, def string) string {
		if v != "" {
			return v
		}
		return filepath.Join(certs, def)
	}
	dir := a.Store.MachineDir(name)
	return &auth.Options{
		CertDir:          certs,
		CaCertPath:       pick(caCert, "ca.pem"),
		CaPrivateKeyPath: pick(caKey, "ca-key.pem"),
		ClientCertPath:   pick(clientCert, "cert.pem"),
		ClientKeyPath:    pick(clientKey, "key.pem"),
		ServerCertPath:   filepath.Join(dir, "server.pem"),
		ServerKeyPath:    filepath.Join(dir, "server-key.pem"),
		ServerCertSANs:   []string{},
		StorePath:        dir,
	}
}

// NewHost assembles a host record around a configured driver.
func (a *API) NewHost(d drivers.Driver, ao *auth.Options, eo *engine.Options, so *swarm.Options) *host.Host {
	return &host.Host{
		ConfigVersion: host.ConfigVersion,
		Driver:        d,
		DriverName:    d.DriverName(),
		Name:          d.GetMachineName(),
		HostOptions: &host.Options{
			EngineOptions: eo,
			SwarmOptions:  so,
			AuthOptions:   ao,
		},
	}
}

// NewDriver returns the named compiled-in driver for a new machine.
func (a *API) NewDriver(driverName, machineName string) (drivers.Driver, error) {
	return registry.New(driverName, machineName, a.Store.Root)
}

// CreateOptions tune Create.
type CreateOptions struct {
	KeepOnFailure bool
	// StateTimeout bounds the wait for the driver to report Running.
	StateTimeout time.Duration
}

// Create runs the create pipeline: certificates, pre-create check, record,
// driver create, wait for running, provision, connection check.
//
// The machine is built in a hidden staging directory (persist.BeginCreate)
// and becomes visible only when complete (persist.Publish). On a failure,
// everything is rolled back unless KeepOnFailure, which publishes the
// machine as far as it got. A create killed on the way leaves its staging
// directory, which the next create or rm cleans up (Sweep).
func (a *API) Create(ctx context.Context, h *host.Host, o CreateOptions) error {
	if err := h.HostOptions.EngineOptions.Validate(); err != nil {
		return err
	}
	lock, err := a.Store.LockContext(ctx, h.Name)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	a.Sweep()
	if ok, err := a.Store.Exists(h.Name); err != nil {
		return err
	} else if ok {
		return &persist.ErrExists{Name: h.Name}
	}
	res := steps.Plan{Steps: a.createSteps(h, o), Keep: o.KeepOnFailure}.Run(ctx)
	if res.Err == nil {
		return a.Store.Publish(h.Name)
	}
	err = res.Err
	if !slices.Contains(res.Ran, stepRecord) {
		// Nothing was made: the error is the step's own (a pre-create
		// check, the certificates).
		if ctx.Err() != nil {
			return &CreateError{Err: interrupted(ctx, err), Name: h.Name}
		}
		return err
	}
	if ctx.Err() != nil {
		err = interrupted(ctx, err)
	}
	ce := &CreateError{Err: err, Name: h.Name, Kept: o.KeepOnFailure, CleanupErr: res.CleanupErr}
	if ce.Kept || ce.CleanupErr != nil {
		// What is left must be reachable by the commands the message
		// names (inspect, ssh, rm -f).
		if perr := a.Store.Publish(h.Name); perr != nil {
			ce.CleanupErr = errors.Join(ce.CleanupErr, perr)
		}
	}
	return ce
}

// stepRecord is the step after which a failed create has something to
// roll back.
const stepRecord = "record"

// createSteps is the create pipeline: what each step does, and what
// undoes it when a later step fails.
func (a *API) createSteps(h *host.Host, o CreateOptions) []steps.Step {
	d := h.Driver
	list := []steps.Step{
		{Name: "bootstrap-certs", Run: func(context.Context) error {
			if err := cert.Bootstrap(h.HostOptions.AuthOptions, false); err != nil {
				return fmt.Errorf("Error generating certificates: %w", err)
			}
			return nil
		}},
		{Name: "pre-create-check", Run: func(ctx context.Context) error {
			log.Infof("Running pre-create checks...")
			if err := d.PreCreateCheck(ctx); err != nil {
				return &PreCreateError{Err: err}
			}
			return nil
		}},
		{Name: "stage", Run: func(context.Context) error {
			// The machine's hidden staging directory (persist.BeginCreate).
			return a.Store.BeginCreate(h.Name)
		}, Cleanup: func(context.Context) error {
			return a.Store.Remove(h.Name)
		}},
		{Name: stepRecord, Run: func(context.Context) error { return a.Store.Save(h) }},
		{Name: "driver-create", Run: func(ctx context.Context) error {
			log.Infof("Creating machine...")
			a.offerEngineBoot(h)
			if err := d.Create(ctx); err != nil {
				return fmt.Errorf("Error in driver during machine creation: %w", err)
			}
			return a.Store.Save(h)
		}, Cleanup: func(ctx context.Context) error {
			if err := d.Remove(ctx); err != nil {
				return fmt.Errorf("driver: %w", err)
			}
			return nil
		}, CleanupFailed: true},
	}
	if !d.Capabilities().SSH {
		// Nothing to provision: record the client certificates so
		// DOCKER_CERT_PATH holds what the docker CLI expects.
		return append(list, steps.Step{Name: "copy-client-certs", Run: func(context.Context) error { return a.CopyClientCerts(h) }})
	}
	return append(list,
		steps.Step{Name: "wait-running", Run: func(ctx context.Context) error {
			log.Infof("Waiting for machine to be running, this may take a few minutes...")
			if err := WaitForState(ctx, d, state.Running, o.StateTimeout); err != nil {
				return fmt.Errorf("Error waiting for machine to be running: %w", err)
			}
			return nil
		}},
		steps.Step{Name: "provision", Run: func(ctx context.Context) error {
			if a.Provisioner == nil {
				return errors.New("this build has no provisioner")
			}
			log.Infof("Detecting operating system of created instance...")
			if err := a.Provisioner.Provision(ctx, h); err != nil {
				return err
			}
			return a.Store.Save(h)
		}},
		steps.Step{Name: "connection-check", Run: func(ctx context.Context) error {
			if a.Checker == nil {
				return nil
			}
			log.Infof("Checking connection to Docker...")
			if err := a.Checker(ctx, h); err != nil {
				return fmt.Errorf("Error checking the host: %w", err)
			}
			log.Infof("Docker is up and running!")
			return nil
		}},
	)
}

// offerEngineBoot hands a driver that can carry the engine's
// configuration into the guest's first boot the provisioner's renderer
// of it; provisioning then finds it in place and only checks.
func (a *API) offerEngineBoot(h *host.Host) {
	eb, ok := h.Driver.(drivers.EngineBooter)
	if !ok || !h.Driver.Capabilities().EngineAtBoot {
		return
	}
	r, ok := a.Provisioner.(EngineBootRenderer)
	if !ok {
		return
	}
	eb.SetEngineRenderer(func(ctx context.Context, g drivers.EngineGuest) ([]drivers.EngineFile, error) {
		return r.EngineBootFiles(ctx, h, g)
	})
}

// interrupted names the interruption as the cause of a failed create,
// keeping the step's error for the debug trace.
func interrupted(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	log.Debugf("create: interrupted during: %v", err)
	return &steps.Error{Step: steps.StepOf(err), Err: cause}
}

// Sweep cleans up what killed processes left in the store: removals that
// did not finish, and creates that did not finish, whose driver
// resources (a VM, a cloud instance) are removed through their driver
// first. It never touches what another process holds.
func (a *API) Sweep() {
	for _, name := range a.Store.Sweep(removeDriver) {
		log.Infof("Removed %q, left half-created by an interrupted create.", name)
	}
}

// removeDriver is the persist.Cleanup of an unfinished create: the
// driver removes what it made, as far as the record says.
func removeDriver(_ string, h *host.Host) error {
	if h == nil || h.Driver == nil {
		return nil
	}
	return h.Driver.Remove(context.Background())
}

// CopyClientCerts copies the CA and client certificate into the machine
// directory as ca.pem, cert.pem and key.pem.
func (a *API) CopyClientCerts(h *host.Host) error {
	return cert.CopyClientMaterial(h.HostOptions.AuthOptions, a.Store.MachineDir(h.Name))
}

// WaitForState polls the driver until it reports want, with backoff,
// bounded by timeout (default 3 minutes) and ctx.
func WaitForState(ctx context.Context, d drivers.Driver, want state.State, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 50 * time.Millisecond
	var last error
	for {
		s, err := d.GetState(ctx)
		if err == nil && s == want {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("machine is %s", stateName(s))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("waiting for state %s: %w", want, context.Cause(ctx))
			}
			return fmt.Errorf("timed out after %s waiting for state %s: %w", timeout, want, last)
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func stateName(s state.State) string {
	if s == state.None {
		return "in no known state"
	}
	return s.String()
}
