package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/crashreport"
	"github.com/docker-machine-ng/machine/libmachine"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// DefaultDriver is used when neither --driver nor MACHINE_DRIVER is given.
var DefaultDriver = "qemu"

const createDescription = "Run '%s create --driver name --help' to include the create flags for that driver in the help text."

func (r *session) createCommand() *cli.Command {
	return &cli.Command{
		Name:            "create",
		Usage:           "Create a machine",
		Description:     fmt.Sprintf(createDescription, r.appName),
		SkipFlagParsing: true,
		Flags:           sharedCreateFlags(),
		Action:          r.create,
	}
}

func sharedCreateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: DefaultDriver, Usage: "Driver to create machine with.", Sources: cli.EnvVars("MACHINE_DRIVER")},
		&cli.StringFlag{Name: "engine-install-url", Value: engine.DefaultInstallURL, Usage: "Custom URL to use for engine installation", Sources: cli.EnvVars("MACHINE_DOCKER_INSTALL_URL")},
		&cli.StringFlag{Name: "engine-install-method", Value: "script", Usage: "How Docker is installed when missing: script (--engine-install-url), package (the distribution's packages) or none", Sources: cli.EnvVars("MACHINE_DOCKER_INSTALL_METHOD")},
		&cli.StringSliceFlag{Name: "engine-opt", Usage: "Specify arbitrary flags to include with the created engine in the form flag=value"},
		&cli.StringSliceFlag{Name: "engine-insecure-registry", Usage: "Specify insecure registries to allow with the created engine"},
		&cli.StringSliceFlag{Name: "engine-registry-mirror", Usage: "Specify registry mirrors to use", Sources: cli.EnvVars("ENGINE_REGISTRY_MIRROR")},
		&cli.StringSliceFlag{Name: "engine-label", Usage: "Specify labels for the created engine"},
		&cli.StringFlag{Name: "engine-storage-driver", Usage: "Specify a storage driver to use with the engine"},
		&cli.StringSliceFlag{Name: "engine-env", Usage: "Specify environment variables to set in the engine"},
		&cli.BoolFlag{Name: "swarm", Usage: "Configure Machine to join a Swarm cluster"},
		&cli.StringFlag{Name: "swarm-image", Value: swarm.DefaultImage, Usage: "Specify Docker image to use for Swarm", Sources: cli.EnvVars("MACHINE_SWARM_IMAGE")},
		&cli.BoolFlag{Name: "swarm-master", Usage: "Configure Machine to be a Swarm master"},
		&cli.StringFlag{Name: "swarm-discovery", Usage: "Discovery service to use with Swarm"},
		&cli.StringFlag{Name: "swarm-strategy", Value: swarm.DefaultStrategy, Usage: "Define a default scheduling strategy for Swarm"},
		&cli.StringSliceFlag{Name: "swarm-opt", Usage: "Define arbitrary flags for Swarm master"},
		&cli.StringSliceFlag{Name: "swarm-join-opt", Usage: "Define arbitrary flags for Swarm join"},
		&cli.StringFlag{Name: "swarm-host", Value: swarm.DefaultHost, Usage: "ip/socket to listen on for Swarm master"},
		&cli.StringFlag{Name: "swarm-addr", Usage: "addr to advertise for Swarm (default: detect and use the machine IP)"},
		&cli.BoolFlag{Name: "swarm-experimental", Usage: "Enable Swarm experimental features"},
		&cli.StringSliceFlag{Name: "tls-san", Usage: "Support extra SANs for TLS certs"},
		&cli.BoolFlag{Name: "keep-on-failure", Usage: "Keep what was created when create fails (for debugging); by default it is removed"},
	}
}

// driverNameFromArgs finds --driver/-d in the raw arguments (first match).
func driverNameFromArgs(argv []string, getenv func(string) string) string {
	for i, a := range argv {
		if a == "--" {
			break
		}
		for _, p := range []string{"--driver", "-d", "-driver"} {
			if a == p && i+1 < len(argv) {
				return argv[i+1]
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
		}
	}
	if d := getenv("MACHINE_DRIVER"); d != "" {
		return d
	}
	return DefaultDriver
}

// driverFlags converts a driver's declared flags to CLI flags. A flag of
// a type it does not know (a plugin's) is an error, not a flag silently
// left out.
func driverFlags(fs []mcnflag.Flag) ([]cli.Flag, error) {
	out := make([]cli.Flag, 0, len(fs))
	for _, f := range fs {
		var src cli.ValueSourceChain
		if f.EnvName() != "" {
			src = cli.EnvVars(f.EnvName())
		}
		switch fl := f.(type) {
		case mcnflag.StringFlag:
			out = append(out, &cli.StringFlag{Name: fl.Name, Usage: fl.Usage, Value: fl.Value, Sources: src})
		case mcnflag.StringSliceFlag:
			out = append(out, &cli.StringSliceFlag{Name: fl.Name, Usage: fl.Usage, Value: fl.Value, Sources: src})
		case mcnflag.IntFlag:
			out = append(out, &cli.IntFlag{Name: fl.Name, Usage: fl.Usage, Value: fl.Value, Sources: src})
		case mcnflag.BoolFlag:
			out = append(out, &cli.BoolFlag{Name: fl.Name, Usage: fl.Usage, Sources: src})
		default:
			return nil, fmt.Errorf("driver flag %q has an unsupported type %T", f.String(), f)
		}
	}
	return out, nil
}

// sharedDriverFlags are the create flags every driver may read besides
// its own (BaseDriver.SetSwarmConfigFromFlags).
var sharedDriverFlags = []mcnflag.Flag{
	mcnflag.BoolFlag{Name: "swarm-master"},
	mcnflag.StringFlag{Name: "swarm-host"},
	mcnflag.StringFlag{Name: "swarm-discovery"},
}

// driverOptions reads the values of a driver's flags (and the shared
// ones) from the parsed command into a plain value map.
func driverOptions(cmd *cli.Command, fs []mcnflag.Flag) drivers.Options {
	o := drivers.Options{}
	for _, f := range append(append([]mcnflag.Flag(nil), sharedDriverFlags...), fs...) {
		n := f.String()
		switch f.(type) {
		case mcnflag.StringFlag:
			o[n] = cmd.String(n)
		case mcnflag.StringSliceFlag:
			o[n] = cmd.StringSlice(n)
		case mcnflag.IntFlag:
			o[n] = int(cmd.Int(n))
		case mcnflag.BoolFlag:
			o[n] = cmd.Bool(n)
		}
	}
	return o
}

// helpRequested reports whether -h/--help appears before "--".
func helpRequested(argv []string) bool {
	for _, a := range argv {
		switch a {
		case "--":
			return false
		case "-h", "--help", "-help":
			return true
		}
	}
	return false
}

var discoveryFormat = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^:]*://.*$`) })

func (r *session) create(ctx context.Context, outer *cli.Command) error {
	argv := outer.Args().Slice()
	driverName := driverNameFromArgs(argv, r.Getenv)
	dflags, err := registry.CreateFlags(driverName)
	if err != nil {
		var nf *registry.NotFoundError
		if errors.As(err, &nf) && helpRequested(argv) {
			// Help must work without a driver: show the shared flags.
			return printCommandHelp(r.Stdout, r.appName, outer)
		}
		if errors.As(err, &nf) {
			return withHint(err, nf.Hint())
		}
		return err
	}
	cflags, err := driverFlags(dflags)
	if err != nil {
		return err
	}
	flags := append(sharedCreateFlags(), cflags...)
	sort.Slice(flags, func(i, j int) bool { return flags[i].Names()[0] < flags[j].Names()[0] })
	if helpRequested(argv) {
		// The library's own help lookup fails on this nested command
		// ("No help topic for 'create'", exit 3); print it directly.
		return printCommandHelp(r.Stdout, r.appName, &cli.Command{Name: "create", Usage: outer.Usage, Description: outer.Description, Flags: flags})
	}
	inner := &cli.Command{
		Name:            "create",
		Usage:           outer.Usage,
		Description:     outer.Description,
		Flags:           flags,
		Writer:          r.Stdout,
		ErrWriter:       r.Stderr,
		HideHelpCommand: true,
		ExitErrHandler:  keepError,
		OnUsageError: func(ctx context.Context, cmd *cli.Command, err error, _ bool) error {
			return &usageError{msg: "Incorrect Usage.\n" + err.Error(), help: r.appName + " create --driver " + driverName + " --help"}
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return r.createMachine(ctx, cmd, driverName, dflags)
		},
	}
	return inner.Run(ctx, append([]string{r.appName + " create"}, argv...))
}

func (r *session) createMachine(ctx context.Context, cmd *cli.Command, driverName string, dflags []mcnflag.Flag) error {
	a := cmd.Args().Slice()
	switch {
	case len(a) == 0:
		return &usageError{msg: "Error: No machine name specified", help: r.appName + " create --help"}
	case len(a) > 1:
		return &usageError{msg: fmt.Sprintf("Invalid command line. Found extra arguments %v", a[1:]), help: r.appName + " create --help"}
	}
	name := a[0]
	if err := host.ValidateName(name); err != nil {
		return fmt.Errorf("Error creating machine: %w", err)
	}
	if d := cmd.String("swarm-discovery"); d != "" && !discoveryFormat().MatchString(d) {
		return fmt.Errorf("Error parsing swarm discovery: Swarm Discovery URL was in the wrong format: %s", d)
	}
	method := cmd.String("engine-install-method")
	switch method {
	case "script", "package", "none":
	default:
		return &usageError{msg: fmt.Sprintf("Error: --engine-install-method %q is not one of script, package, none", method)}
	}
	ao := r.api.DefaultAuthOptions(name, r.global("tls-ca-cert"), r.global("tls-ca-key"), r.global("tls-client-cert"), r.global("tls-client-key"))
	ao.ServerCertSANs = nonNil(cmd.StringSlice("tls-san"))
	eo := &engine.Options{
		ArbitraryFlags:   nonNil(cmd.StringSlice("engine-opt")),
		Env:              nonNil(cmd.StringSlice("engine-env")),
		InsecureRegistry: nonNil(cmd.StringSlice("engine-insecure-registry")),
		Labels:           nonNil(cmd.StringSlice("engine-label")),
		RegistryMirror:   nonNil(cmd.StringSlice("engine-registry-mirror")),
		StorageDriver:    cmd.String("engine-storage-driver"),
		TLSVerify:        true,
		InstallURL:       cmd.String("engine-install-url"),
	}
	if method != "script" {
		eo.InstallMethod = method
	}
	// Every option is checked before anything is made (a plugin
	// started, a VM booted).
	if err := eo.Validate(); err != nil {
		return fmt.Errorf("Error creating machine: %w", err)
	}
	so := &swarm.Options{
		IsSwarm:            cmd.Bool("swarm") || cmd.Bool("swarm-master"),
		Master:             cmd.Bool("swarm-master"),
		Agent:              cmd.Bool("swarm"),
		Discovery:          cmd.String("swarm-discovery"),
		Address:            cmd.String("swarm-addr"),
		Host:               cmd.String("swarm-host"),
		Strategy:           cmd.String("swarm-strategy"),
		ArbitraryFlags:     nonNil(cmd.StringSlice("swarm-opt")),
		ArbitraryJoinFlags: nonNil(cmd.StringSlice("swarm-join-opt")),
		Image:              cmd.String("swarm-image"),
		IsExperimental:     cmd.Bool("swarm-experimental"),
	}
	if ok, err := r.api.Store.Exists(name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("Docker machine %q already exists", name)
	}
	d, err := r.api.NewDriver(driverName, name)
	if err != nil {
		return err
	}
	if err := d.SetConfigFromFlags(driverOptions(cmd, dflags)); err != nil {
		return fmt.Errorf("Error setting machine configuration from flags provided: %w", err)
	}
	h := r.api.NewHost(d, ao, eo, so)
	err = r.api.Create(ctx, h, libmachine.CreateOptions{KeepOnFailure: cmd.Bool("keep-on-failure"), StateTimeout: r.sshTimeout})
	if err != nil {
		r.noteFailure(crashreport.Failure{Command: "create", Driver: driverName, Err: err, Secrets: createSecrets(cmd, dflags)})
		return err
	}
	log.Infof("To see how to connect your Docker Client to the Docker Engine running on this virtual machine, run: %s env %s", r.Args[0], name)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
