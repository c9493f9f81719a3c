// Command testplugin is a third-party style Docker Machine driver plugin
// built from the original's own packages, for the plugin tests. One
// binary, installed under several names; its name (the part after
// docker-machine-driver-) picks the behaviour:
//
//	xnone    the original's none driver, named xnone, served by the
//	         original's plugin.RegisterDriver
//	xcrash   as xnone, but the process exits in the middle of Create
//	xsilent  never prints its address
//	xbadver  answers GetVersion with API version 2
//	xv0      serves only the v0 service name RpcServerDriver
//	xhang    as xnone, but Create never returns
//	xgeneric the original's generic driver, named xgeneric
//	xslow    as xnone, but Create takes 12 s, longer than the 10 s the
//	         plugin lives without a heartbeat
package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/machine/drivers/generic"
	"github.com/docker/machine/drivers/none"
	"github.com/docker/machine/libmachine/drivers/plugin"
	"github.com/docker/machine/libmachine/drivers/plugin/localbinary"
	rpcdriver "github.com/docker/machine/libmachine/drivers/rpc"
)

// Driver is the none driver under another name.
type Driver struct {
	*none.Driver
	name  string
	crash bool
	hang  bool
	slow  bool
}

// DriverName is the plugin's name, not "none".
func (d *Driver) DriverName() string { return d.name }

// GetSSHHostname says there is no SSH, in the text docker-machine-ng
// reads as "do not provision".
func (d *Driver) GetSSHHostname() (string, error) {
	return "", fmt.Errorf("the %s driver does not support SSH", d.name)
}

// Create reports on stdout (an info line of the client) and crashes when
// it is the crashing variant.
func (d *Driver) Create() error {
	fmt.Printf("%s: creating %s\n", d.name, d.MachineName)
	if d.crash {
		fmt.Fprintf(os.Stderr, "%s: crashing in Create\n", d.name)
		os.Exit(3)
	}
	if d.slow {
		// The behaviour under test is a slow driver: only the client's
		// heartbeats keep the plugin alive this long.
		time.Sleep(12 * time.Second)
	}
	if d.hang {
		// Until the client closes the plugin (or its heartbeat stops).
		time.Sleep(time.Hour)
	}
	return d.Driver.Create()
}

// Generic is the generic driver under another name.
type Generic struct {
	*generic.Driver
}

// DriverName is "xgeneric".
func (g *Generic) DriverName() string { return "xgeneric" }

// BadVersion reports an API version docker-machine does not speak.
type BadVersion struct {
	*rpcdriver.RPCServerDriver
}

// GetVersion answers 2.
func (b BadVersion) GetVersion(_ *struct{}, reply *int) error {
	*reply = 2
	return nil
}

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "docker-machine-driver-")
	d := &Driver{Driver: none.NewDriver("", ""), name: name, crash: name == "xcrash", hang: name == "xhang", slow: name == "xslow"}
	served := os.Getenv(localbinary.PluginEnvKey) == localbinary.PluginEnvVal
	switch name {
	case "xsilent":
		if served {
			// Misbehaving on purpose: alive, but never says where it
			// listens. docker-machine kills it after its 10 s wait.
			time.Sleep(time.Hour)
		}
		os.Exit(1)
	case "xbadver":
		rpcd := rpcdriver.NewRPCServerDriver(d)
		serve(rpcd, BadVersion{rpcd}, rpcdriver.RPCServiceNameV1, rpcdriver.RPCServiceNameV0)
	case "xgeneric":
		plugin.RegisterDriver(&Generic{generic.NewDriver("", "").(*generic.Driver)})
	case "xv0":
		rpcd := rpcdriver.NewRPCServerDriver(d)
		serve(rpcd, rpcd, rpcdriver.RPCServiceNameV0)
	default:
		plugin.RegisterDriver(d)
	}
}

// serve is plugin.RegisterDriver with a chosen receiver and service
// names.
func serve(rpcd *rpcdriver.RPCServerDriver, rcvr any, names ...string) {
	if os.Getenv(localbinary.PluginEnvKey) != localbinary.PluginEnvVal {
		fmt.Fprintln(os.Stderr, "This is a Docker Machine plugin binary.")
		os.Exit(1)
	}
	for _, n := range names {
		if err := rpc.RegisterName(n, rcvr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	rpc.HandleHTTP()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr())
	go func() {
		if err := http.Serve(l, nil); err != nil && !errors.Is(err, net.ErrClosed) {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	for {
		select {
		case <-rpcd.CloseCh:
			os.Exit(0)
		case <-rpcd.HeartbeatCh:
		case <-time.After(10 * time.Second):
			os.Exit(1)
		}
	}
}
