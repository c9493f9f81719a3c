package commands

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/host"
)

// portForwardCommand adds, lists and removes forwarded ports of a
// machine reached through forwarded ports (drivers.PortForwarder): not in
// the original, where users asked for it (spec §12 item 19, #4351).
func (r *session) portForwardCommand() *cli.Command {
	return &cli.Command{
		Name:      "port-forward",
		Usage:     "Forward host ports to ports of a machine, list or remove them",
		ArgsUsage: "machine-name [[[HOST_IP:]HOST_PORT:]GUEST_PORT[/udp] ...]",
		Description: "Arguments are a machine name and the ports to forward; without ports, the forwards are listed.\n" +
			"   The host side defaults to the machine's address and the guest's port (Linux), or 127.0.0.1 and a free port (macOS, Windows).\n" +
			"   Forwards are set up again when the machine starts. Supported by the qemu driver.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "remove", Aliases: []string{"r"}, Usage: "Remove the forwards given (GUEST_PORT removes all to that port)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			a := args(cmd)
			if len(a) == 0 {
				return &usageError{msg: "Error: Expected a machine name, then the ports to forward", help: r.appName + " port-forward --help"}
			}
			var specs []drivers.Forward
			for _, s := range a[1:] {
				f, err := parseForward(s)
				if err != nil {
					return err
				}
				specs = append(specs, f)
			}
			remove := cmd.Bool("remove")
			if remove && len(specs) == 0 {
				return &usageError{msg: "Error: --remove needs the ports to remove", help: r.appName + " port-forward --help"}
			}
			h, err := r.api.Store.Load(a[0])
			if err != nil {
				return err
			}
			if len(specs) == 0 {
				pf, err := portForwarder(h)
				if err != nil {
					return err
				}
				for _, f := range pf.Forwards() {
					fmt.Fprintln(r.Stdout, formatForward(f))
				}
				return nil
			}
			return r.act(h, true, func(h *host.Host) error { return r.changeForwards(ctx, h, specs, remove) })
		},
	}
}

func portForwarder(h *host.Host) (drivers.PortForwarder, error) {
	pf, ok := h.Driver.(drivers.PortForwarder)
	if !ok {
		return nil, &drivers.NotSupportedError{Driver: h.DriverName, Operation: "port forwarding",
			Message: fmt.Sprintf("Port forwarding is not supported by driver %q (machine %q): its ports are reached on the machine's IP address directly", h.DriverName, h.Name)}
	}
	return pf, nil
}

// changeForwards adds or removes the forwards in turn; the first error
// stops, and what was done before it is kept (and saved).
func (r *session) changeForwards(ctx context.Context, h *host.Host, specs []drivers.Forward, remove bool) error {
	pf, err := portForwarder(h)
	if err != nil {
		return err
	}
	for _, f := range specs {
		if remove {
			if err := pf.RemoveForward(ctx, f); err != nil {
				return fmt.Errorf("Error removing the forward from %q: %w", h.Name, err)
			}
			continue
		}
		got, err := pf.AddForward(ctx, f)
		if err != nil {
			return fmt.Errorf("Error forwarding a port to %q: %w", h.Name, err)
		}
		fmt.Fprintln(r.Stdout, formatForward(got))
	}
	return nil
}

// formatForward is docker port's form: "8080/tcp -> 127.0.0.5:8080".
func formatForward(f drivers.Forward) string {
	return fmt.Sprintf("%d/%s -> %s", f.GuestPort, f.Proto, net.JoinHostPort(f.HostIP, strconv.Itoa(f.HostPort)))
}

// parseForward reads [[HOST_IP:]HOST_PORT:]GUEST_PORT[/tcp|/udp].
func parseForward(s string) (drivers.Forward, error) {
	bad := func(why string) (drivers.Forward, error) {
		return drivers.Forward{}, fmt.Errorf("Invalid port forward %q: %s (expected [[HOST_IP:]HOST_PORT:]GUEST_PORT[/udp], e.g. 8080 or 18080:80)", s, why)
	}
	var f drivers.Forward
	spec, proto, hasProto := strings.Cut(s, "/")
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return bad("the protocol is tcp or udp")
		}
		f.Proto = proto
	}
	parts := strings.Split(spec, ":")
	if len(parts) > 3 {
		return bad("too many colons")
	}
	port := func(p string) (int, error) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return 0, errors.New("bad port")
		}
		return n, nil
	}
	var err error
	if f.GuestPort, err = port(parts[len(parts)-1]); err != nil {
		return bad(fmt.Sprintf("guest port %q is not a port (1-65535)", parts[len(parts)-1]))
	}
	if len(parts) >= 2 {
		if f.HostPort, err = port(parts[len(parts)-2]); err != nil {
			return bad(fmt.Sprintf("host port %q is not a port (1-65535)", parts[len(parts)-2]))
		}
	}
	if len(parts) == 3 {
		if ip := net.ParseIP(parts[0]); ip == nil || ip.To4() == nil {
			return bad(fmt.Sprintf("host address %q is not an IPv4 address", parts[0]))
		}
		f.HostIP = parts[0]
	}
	return f, nil
}
