package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/check"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

func (r *session) envCommand() *cli.Command {
	return &cli.Command{
		Name:        "env",
		Usage:       "Display the commands to set up the environment for the Docker client",
		Description: "Argument is a machine name.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "swarm", Usage: "Display the Swarm config instead of the Docker daemon"},
			&cli.StringFlag{Name: "shell", Usage: "Force environment to be configured for a specified shell: [fish, cmd, powershell, tcsh, emacs], default is auto-detect"},
			&cli.BoolFlag{Name: "unset", Aliases: []string{"u"}, Usage: "Unset variables instead of setting them"},
			&cli.BoolFlag{Name: "no-proxy", Usage: "Add machine IP to NO_PROXY environment variable"},
		},
		Action: r.env,
	}
}

func (r *session) env(ctx context.Context, cmd *cli.Command) error {
	// Progress messages must not end up in `eval $(...)`.
	log.SetOutput(r.Stderr, r.Stderr)
	shell := cmd.String("shell")
	if shell == "" {
		sh, notice, err := detectShell(r.Getenv, runtime.GOOS, processAncestors)
		if err != nil {
			return err
		}
		if notice != "" {
			fmt.Fprintln(r.Stderr, notice)
		}
		shell = sh
	}
	if cmd.Bool("unset") {
		if cmd.Args().Len() > 0 {
			return &usageError{msg: "Error: Expected no machine name when the -u flag is present", help: r.appName + " env --help"}
		}
		vars := []envVar{{name: "DOCKER_TLS_VERIFY"}, {name: "DOCKER_HOST"}, {name: "DOCKER_CERT_PATH"}, {name: "DOCKER_MACHINE_NAME"}}
		if cmd.Bool("no-proxy") {
			name := "NO_PROXY"
			if r.Getenv("no_proxy") != "" {
				name = "no_proxy"
			}
			vars = append(vars, envVar{name: name})
		}
		fmt.Fprint(r.Stdout, renderEnv(shell, vars, true, r.Args))
		return nil
	}
	h, err := r.loadTarget(cmd)
	if err != nil {
		return err
	}
	dockerURL, err := r.connectionURL(ctx, h, cmd.Bool("swarm"))
	if err != nil {
		return fmt.Errorf("Error checking TLS connection: %w", err)
	}
	dir := r.certPath(h)
	vars := []envVar{
		{"DOCKER_TLS_VERIFY", "1"},
		{"DOCKER_HOST", dockerURL},
		{"DOCKER_CERT_PATH", dir},
		{"DOCKER_MACHINE_NAME", h.Name},
	}
	if runtime.GOOS == "windows" {
		vars = append(vars, envVar{"COMPOSE_CONVERT_WINDOWS_PATHS", "true"})
	}
	if cmd.Bool("no-proxy") {
		ip, err := h.Driver.GetIP(r.ctx)
		if err != nil {
			return fmt.Errorf("Error getting host IP: %w", err)
		}
		vars = append(vars, noProxyVar(r.Getenv, ip))
	}
	if err := checkEnv(shell, vars); err != nil {
		return err
	}
	fmt.Fprint(r.Stdout, renderEnv(shell, vars, false, r.Args))
	return nil
}

// noProxyVar appends the machine IP to whichever of no_proxy / NO_PROXY is
// set, keeping its spelling.
func noProxyVar(getenv func(string) string, ip string) envVar {
	name, val := "no_proxy", getenv("no_proxy")
	if val == "" {
		name, val = "NO_PROXY", getenv("NO_PROXY")
	}
	switch {
	case val == "":
		val = ip
	case !strings.Contains(val, ip):
		val += "," + ip
	}
	return envVar{name, val}
}

// certPath is the directory for DOCKER_CERT_PATH: the machine's own
// copies, or — for machines whose directory has none, like `none`
// machines created by the original — the store's certs directory, which
// holds the same three file names.
func (r *session) certPath(h *host.Host) string {
	dir := r.api.Store.MachineDir(h.Name)
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err != nil && h.HostOptions.AuthOptions.CertDir != "" {
		return h.HostOptions.AuthOptions.CertDir
	}
	return dir
}

// connectionURL returns the Docker URL of a machine once its daemon
// answered a TLS handshake with the certificates the docker CLI will use.
func (r *session) connectionURL(ctx context.Context, h *host.Host, useSwarm bool) (string, error) {
	return check.Connection(ctx, h, check.Options{Swarm: useSwarm, CertDir: r.certPath(h), SessionFile: r.api.Store.TLSSessionPath(h.Name)})
}
