package crash_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/docker-machine-ng/machine/drivers/generic"
	"github.com/docker-machine-ng/machine/drivers/none"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/plugin"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// crashyName is the third-party style driver the test binary serves when
// it runs as docker-machine-driver-crashy (see TestMain): a cloud driver
// whose create fails after it logged everything it was given, as drivers
// do in their debug output, and whose error repeats its credentials.
const crashyName = "crashy"

// crashy has secret flags of each kind crash reports must recognise: by
// name (…-access-token, …-root-pass), marked Secret (…-pin, a name no
// rule knows), and a file whose content it logs (keys and certificates).
type crashy struct {
	*none.Driver
	AccessToken string
	Pin         string
	RootPass    string
	Endpoint    string
	UserData    string
}

// crashySSHName is a second driver of the test binary: generic's, with
// an API token that it logs whenever it is asked for the machine's
// state, as a cloud driver might log its API calls. An upgrade of its
// machine has no flags: the token comes from config.json only.
const crashySSHName = "crashyssh"

type crashySSH struct {
	*generic.Driver
	APIToken string
}

// serveCrashy serves the driver the binary's name asks for.
func serveCrashy(name string) {
	plugin.Serve(func(machine, store string) drivers.Driver {
		if name == crashySSHName {
			return &crashySSH{Driver: generic.New(machine, store)}
		}
		return &crashy{Driver: none.New(machine, store)}
	})
}

func (d *crashySSH) DriverName() string { return crashySSHName }

func (d *crashySSH) GetCreateFlags() []mcnflag.Flag {
	return append(d.Driver.GetCreateFlags(), mcnflag.StringFlag{Name: "crashyssh-api-token", Usage: "API token"})
}

func (d *crashySSH) SetConfigFromFlags(o drivers.Options) error {
	d.APIToken = o.String("crashyssh-api-token")
	return d.Driver.SetConfigFromFlags(o)
}

func (d *crashySSH) GetState(ctx context.Context) (state.State, error) {
	log.Debugf("crashyssh: GET /machines/%s/state with token %s", d.MachineName, d.APIToken)
	return d.Driver.GetState(ctx)
}

func (d *crashy) DriverName() string { return crashyName }

func (d *crashy) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{Name: "crashy-access-token", Usage: "API token", EnvVar: "CRASHY_ACCESS_TOKEN"},
		mcnflag.StringFlag{Name: "crashy-pin", Usage: "account PIN", Secret: true},
		mcnflag.StringFlag{Name: "crashy-root-pass", Usage: "root password of the instance"},
		mcnflag.StringFlag{Name: "crashy-endpoint", Usage: "API endpoint"},
		mcnflag.StringFlag{Name: "crashy-user-data", Usage: "cloud-init user data file"},
		mcnflag.StringFlag{Name: "crashy-region", Usage: "region", Value: "moon-1"},
	}
}

func (d *crashy) SetConfigFromFlags(o drivers.Options) error {
	d.AccessToken = o.String("crashy-access-token")
	d.Pin = o.String("crashy-pin")
	d.RootPass = o.String("crashy-root-pass")
	d.Endpoint = o.String("crashy-endpoint")
	d.UserData = o.String("crashy-user-data")
	d.URL = "tcp://127.0.0.1:2376"
	return nil
}

// Create logs its configuration, the environment's AWS credentials and
// the user data, then fails with an error that names its credentials.
// Its debug lines are masked by the plugin's log package before they
// leave it (by shape only: the plain values pass); its info lines leave
// it as written and are masked only in the client's history.
func (d *crashy) Create(context.Context) error {
	log.Debugf("crashy: config token %s pin %s root %s", d.AccessToken, d.Pin, d.RootPass)
	log.Infof("crashy: calling %s with %s %s", d.Endpoint, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"))
	log.Infof("crashy: the environment has %s", os.Getenv("MACHINE_GITHUB_API_TOKEN"))
	if d.UserData != "" {
		data, err := os.ReadFile(d.UserData)
		if err != nil {
			return err
		}
		log.Infof("crashy: user data:\n%s", strings.TrimSpace(string(data)))
	}
	return fmt.Errorf("crashy: the cloud refused %s (token %s, pin %s, root %s, secret %s): 401 Unauthorized",
		os.Getenv("AWS_ACCESS_KEY_ID"), d.AccessToken, d.Pin, d.RootPass, os.Getenv("AWS_SECRET_ACCESS_KEY"))
}
