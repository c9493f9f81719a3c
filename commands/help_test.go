package commands

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
)

func TestFlagLine(t *testing.T) {
	tests := []struct {
		name string
		flag cli.Flag
		want string
	}{
		{"bool with short", &cli.BoolFlag{Name: "debug", Aliases: []string{"D"}, Usage: "Enable debug mode"},
			"--debug, -D\tEnable debug mode"},
		{"string with default and env", &cli.StringFlag{Name: "storage-path", Aliases: []string{"s"}, Value: "/home/u/.docker/machine", Usage: "Configures storage path", Sources: cli.EnvVars("MACHINE_STORAGE_PATH")},
			"--storage-path, -s \"/home/u/.docker/machine\"\tConfigures storage path [$MACHINE_STORAGE_PATH]"},
		{"string without default", &cli.StringFlag{Name: "tls-ca-cert", Usage: "CA to verify remotes against", Sources: cli.EnvVars("MACHINE_TLS_CA_CERT")},
			"--tls-ca-cert\tCA to verify remotes against [$MACHINE_TLS_CA_CERT]"},
		{"int", &cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Value: 10, Usage: "Timeout in seconds, default to 10s"},
			"--timeout, -t \"10\"\tTimeout in seconds, default to 10s"},
		{"int zero", &cli.IntFlag{Name: "virtualbox-cpu-count", Usage: "number of CPUs"},
			"--virtualbox-cpu-count \"0\"\tnumber of CPUs"},
		{"string slice", &cli.StringSliceFlag{Name: "filter", Usage: "Filter output based on conditions provided"},
			"--filter [--filter option --filter option]\tFilter output based on conditions provided"},
		{"string slice with env", &cli.StringSliceFlag{Name: "engine-registry-mirror", Usage: "Specify registry mirrors to use", Sources: cli.EnvVars("ENGINE_REGISTRY_MIRROR")},
			"--engine-registry-mirror [--engine-registry-mirror option --engine-registry-mirror option]\tSpecify registry mirrors to use [$ENGINE_REGISTRY_MIRROR]"},
		{"two envs", &cli.StringFlag{Name: "xy", Usage: "u", Sources: cli.EnvVars("A", "B")},
			"--xy\tu [$A, $B]"},
		{"single-letter name", &cli.BoolFlag{Name: "y", Usage: "Assumes automatic yes"},
			"-y\tAssumes automatic yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, flagLine(tt.flag))
		})
	}
}

func TestDriverFlagsRenderLikeTheOriginal(t *testing.T) {
	fs, err := driverFlags([]mcnflag.Flag{
		mcnflag.StringFlag{Name: "url", Usage: "URL of host when no driver is selected"},
		mcnflag.IntFlag{Name: "generic-ssh-port", Usage: "SSH port", Value: 22, EnvVar: "GENERIC_SSH_PORT"},
		mcnflag.BoolFlag{Name: "virtualbox-no-share", Usage: "Disable the mount of your home directory"},
		mcnflag.StringSliceFlag{Name: "amazonec2-tags", Usage: "tags"},
	})
	require.NoError(t, err)
	var got []string
	for _, f := range fs {
		got = append(got, flagLine(f))
	}
	assert.Equal(t, []string{
		"--url\tURL of host when no driver is selected",
		"--generic-ssh-port \"22\"\tSSH port [$GENERIC_SSH_PORT]",
		"--virtualbox-no-share\tDisable the mount of your home directory",
		"--amazonec2-tags [--amazonec2-tags option --amazonec2-tags option]\ttags",
	}, got)
}

func TestDriverNameFromArgs(t *testing.T) {
	tests := []struct {
		argv []string
		env  string
		want string
	}{
		{[]string{"-d", "none", "x"}, "", "none"},
		{[]string{"--driver", "generic", "x"}, "", "generic"},
		{[]string{"--driver=none", "x"}, "", "none"},
		{[]string{"-d=none", "x"}, "", "none"},
		{[]string{"x", "--url", "tcp://a:1", "-d", "none"}, "", "none"},
		{[]string{"-d", "none", "--driver", "generic"}, "", "none"},
		{[]string{"x"}, "", DefaultDriver},
		{[]string{"x"}, "none", "none"},
		{[]string{"-d", "generic"}, "none", "generic"},
		{[]string{"x", "--", "-d", "none"}, "", DefaultDriver},
		{[]string{"-d"}, "", DefaultDriver},
	}
	for _, tt := range tests {
		env := map[string]string{"MACHINE_DRIVER": tt.env}
		assert.Equal(t, tt.want, driverNameFromArgs(tt.argv, func(k string) string { return env[k] }), "%q env=%q", tt.argv, tt.env)
	}
}

func TestHelpRequested(t *testing.T) {
	tests := []struct {
		argv []string
		want bool
	}{
		{[]string{"--help"}, true},
		{[]string{"-d", "none", "-h"}, true},
		{[]string{"-help"}, true},
		{[]string{"x"}, false},
		{[]string{"x", "--", "--help"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, helpRequested(tt.argv), "%q", tt.argv)
	}
}

func TestDebugRequested(t *testing.T) {
	tests := []struct {
		args    []string
		env     string
		want    bool
		wantErr string
	}{
		{args: []string{"dm", "ls"}, want: false},
		{args: []string{"dm", "-D", "ls"}, want: true},
		{args: []string{"dm", "ls", "--debug"}, want: true},
		{args: []string{"dm", "ls", "-debug"}, want: true},
		{args: []string{"dm", "ssh", "m", "--", "-D"}, want: false},
		{args: []string{"dm", "ls"}, env: "1", want: true},
		{args: []string{"dm", "ls"}, env: "false", want: false},
		{args: []string{"dm", "ls"}, env: "yes", wantErr: "Error parsing boolean value from MACHINE_DEBUG: "},
	}
	for _, tt := range tests {
		got, err := debugRequested(tt.args, tt.env)
		if tt.wantErr != "" {
			assert.ErrorContains(t, err, tt.wantErr)
			continue
		}
		assert.NoError(t, err)
		assert.Equal(t, tt.want, got, "%q env=%q", tt.args, tt.env)
	}
}

func TestExitCodesAndMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"success", nil, 0, ""},
		{"plain error", errors.New("boom"), 1, "boom"},
		{"trailing newline trimmed", errors.New("boom\n"), 1, "boom"},
		{"usage error", &usageError{msg: "Error: Too many arguments given", help: "docker-machine active --help"}, 1,
			"Error: Too many arguments given\nSee 'docker-machine active --help'."},
		{"hinted error", withHint(errors.New("Unsupported filter syntax"), "use key=value"), 1, "Unsupported filter syntax\nuse key=value"},
		{"usage error without help", &usageError{msg: "Incorrect Usage"}, 1, "Incorrect Usage"},
		{"pre-create check", &libmachine.PreCreateError{Err: errors.New("VBoxManage not found")}, 3,
			`Error with pre-create check: "VBoxManage not found"`},
		{"wrapped pre-create check", fmt.Errorf("x: %w", &libmachine.PreCreateError{Err: errors.New("y")}), 3, `x: Error with pre-create check: "y"`},
		{"silent exit", &silentExit{code: 5}, 5, ""},
		{"declined prompt", &silentExit{code: 0}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.code, exitCode(tt.err))
			if tt.err != nil {
				assert.Equal(t, tt.msg, message(tt.err))
			}
		})
	}
}

func TestCommandName(t *testing.T) {
	for _, tt := range []struct {
		argv []string
		want string
	}{
		{[]string{"dm"}, ""},
		{[]string{"dm", "ls"}, "ls"},
		{[]string{"dm", "-D", "ls", "-q"}, "ls"},
		{[]string{"dm", "--storage-path", "/s", "env", "x"}, "env"},
		{[]string{"dm", "-s", "/s", "env"}, "env"},
		{[]string{"dm", "--storage-path=/s", "url", "x"}, "url"},
		{[]string{"dm", "--bugsnag-api-token=no-report", "create", "-d", "none"}, "create"},
		{[]string{"dm", "--bugsnag-api-token", "no-report", "config", "m"}, "config"},
		{[]string{"dm", "-ssh-timeout", "1s", "ssh", "m"}, "ssh"},
		{[]string{"dm", "--native-ssh", "ssh", "m"}, "ssh"},
		{[]string{"dm", "--help"}, ""},
		{[]string{"dm", "--", "ls"}, ""},
	} {
		assert.Equal(t, tt.want, commandName(tt.argv), "%v", tt.argv)
	}
}
