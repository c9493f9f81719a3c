package cli_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInspect(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("dev", url, "--engine-label", "a=b")
	before := m.hashStore()

	// Default: the host as JSON with 4-space indentation, the same
	// document as config.json.
	out := m.ok("inspect", "dev").stdout
	assert.Equal(t, m.readFile("machines/dev/config.json")+"\n", out)
	var keys []string
	dec := json.NewDecoder(strings.NewReader(out))
	_, err := dec.Token()
	require.NoError(t, err)
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	assert.Equal(t, []string{"ConfigVersion", "Driver", "DriverName", "HostOptions", "Name"}, keys)
	// IPAddress is the URL's host:port, as the original stored it.
	hostPort := strings.TrimPrefix(url, "tcp://")
	assert.True(t, strings.HasPrefix(out, "{\n    \"ConfigVersion\": 3,\n    \"Driver\": {\n        \"IPAddress\": \""+hostPort+"\",\n"), out)

	tests := []struct {
		format, want string
	}{
		{"{{.DriverName}}", "none\n"},
		{"{{.Driver.URL}}", url + "\n"},
		{"{{.Driver.IPAddress}}", strings.TrimPrefix(url, "tcp://") + "\n"},
		{"{{.Driver.SSHUser}}", "\n"},
		{"{{.Name}} {{.HostOptions.EngineOptions.Labels}}", "dev [a=b]\n"},
		{"{{json .HostOptions.EngineOptions.Labels}}", "[\"a=b\"]\n"},
		{"{{prettyjson .HostOptions.EngineOptions.Labels}}", "[\n    \"a=b\"\n]\n"},
		{"{{json .HostOptions.SwarmOptions.Master}}", "false\n"},
		{"{{.HostOptions.AuthOptions.StorePath}}", m.machineDir("dev") + "\n"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, m.ok("inspect", "-f", tt.format, "dev").stdout, tt.format)
		assert.Equal(t, tt.want, m.ok("inspect", "--format", tt.format, "dev").stdout, tt.format)
	}

	// json of the whole driver is its config.json object, compact.
	var fromJSON, fromConfig map[string]any
	require.NoError(t, json.Unmarshal([]byte(m.ok("inspect", "-f", "{{json .Driver}}", "dev").stdout), &fromJSON))
	var cfg struct{ Driver map[string]any }
	require.NoError(t, json.Unmarshal([]byte(m.readFile("machines/dev/config.json")), &cfg))
	fromConfig = cfg.Driver
	assert.Equal(t, fromConfig, fromJSON)
	pretty := m.ok("inspect", "-f", "{{prettyjson .Driver}}", "dev").stdout
	assert.Contains(t, pretty, "{\n    \"IPAddress\": \""+hostPort+"\",\n")

	assert.Contains(t, m.fails("inspect", "-f", "{{", "dev"), "template parsing error")
	assert.Contains(t, m.fails("inspect", "-f", "{{json}}", "dev"), "json")
	assert.Contains(t, m.fails("inspect", "dev", "other"), "Expected one machine name")
	assert.Contains(t, m.fails("inspect", "nope"), `Docker machine "nope" does not exist`)
	assert.Equal(t, `Error: No machine name(s) specified and no "default" machine exists`, m.fails("inspect"))
	assert.Equal(t, before, m.hashStore(), "inspect never writes")
}

func TestURLIPStatus(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, port := deadURL(t)
	m.create("a", url)
	m.create("b", strings.Replace(url, "127.0.0.1", "localhost", 1))
	m.create("c", "tcp://[::1]:2376")
	before := m.hashStore()

	assert.Equal(t, url+"\n", m.ok("url", "a").stdout)
	assert.Equal(t, "tcp://[::1]:2376\n", m.ok("url", "c").stdout)
	// ip prints the host only (the original printed host:port for none).
	assert.Equal(t, "127.0.0.1\n", m.ok("ip", "a").stdout)
	assert.Equal(t, "::1\n", m.ok("ip", "c").stdout)
	assert.ElementsMatch(t, []string{"127.0.0.1", "localhost", "::1"}, lines(m.ok("ip", "a", "b", "c").stdout))
	assert.NotContains(t, m.ok("ip", "a").stdout, ":"+strconv.Itoa(port))
	assert.Equal(t, "Running\n", m.ok("status", "a").stdout)

	assert.Contains(t, m.fails("ip", "a", "nope"), `Docker machine "nope" does not exist`)
	assert.Contains(t, m.fails("url", "a", "b"), "Expected one machine name")
	assert.Contains(t, m.fails("status", "a", "b"), "Expected one machine name")
	assert.Contains(t, m.fails("url", "nope"), `Docker machine "nope" does not exist`)
	assert.Contains(t, m.fails("status", "nope"), `Docker machine "nope" does not exist`)
	for _, cmd := range []string{"url", "ip", "status", "inspect", "env", "config"} {
		assert.Equal(t, `Error: No machine name(s) specified and no "default" machine exists`, m.fails(cmd), cmd)
	}
	assert.Equal(t, before, m.hashStore(), "url, ip and status never write")
}

// Commands taking one machine fall back to "default".
func TestDefaultMachine(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url := m.startDaemon().url
	m.create("default", url)
	m.create("other", url)
	assert.Equal(t, url+"\n", m.ok("url").stdout)
	assert.Equal(t, "127.0.0.1\n", m.ok("ip").stdout)
	assert.Equal(t, "Running\n", m.ok("status").stdout)
	assert.Equal(t, "default\n", m.ok("inspect", "-f", "{{.Name}}").stdout)
	assert.Contains(t, m.ok("env").stdout, "export DOCKER_MACHINE_NAME=\"default\"\n")
	assert.Contains(t, m.ok("config").stdout, "-H="+url+"\n")
	assert.Contains(t, m.fails("start"), `Machine "default" is already running.`)
	_, line := m.failsPrinting(opts{}, "stop")
	assert.Contains(t, line, "hosts without a driver cannot be stopped")
}

func TestActive(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("a", url)
	m.create("b", strings.Replace(url, "127.0.0.1", "localhost", 1))
	m.create("master", strings.Replace(url, "127.0.0.1", "127.0.0.2", 1), "--swarm-master", "--swarm-discovery", "token://x")
	withHost := func(h string) opts { return opts{env: map[string]string{"DOCKER_HOST": h}} }

	r := m.runWith(withHost(strings.Replace(url, "127.0.0.1", "localhost", 1)), "active")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "b\n", r.stdout)
	r = m.runWith(withHost(url), "active", "--timeout", "5")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "a\n", r.stdout)
	r = m.runWith(withHost(url), "active", "-t", "5")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "a\n", r.stdout)
	r = m.runWith(withHost("tcp://127.0.0.2:3376"), "active")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "master\n", r.stdout, "the swarm port makes the master active")

	assert.Contains(t, m.failsWith(withHost("tcp://10.1.1.1:2376"), "active"), "No active host found")
	assert.Contains(t, m.fails("active"), "No active host found")
	assert.Contains(t, m.failsWith(withHost(url), "active", "a"), "Error: Too many arguments given")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	re := regexp.MustCompile(`^docker-machine version [^ ,]+, build [^ ]+\n$`)
	v := m.ok("version").stdout
	assert.Regexp(t, re, v)
	assert.Equal(t, v, m.ok("-v").stdout)
	assert.Equal(t, v, m.ok("--version").stdout)

	m.bootstrapCA()
	d := m.startDaemon()
	m.create("dev", d.url)
	assert.Equal(t, "27.1.0\n", m.ok("version", "dev").stdout)
	dead, _ := deadURL(t)
	m.create("dead", dead)
	assert.Contains(t, m.fails("version", "dead"), "connection refused")
	assert.Contains(t, m.fails("version", "a", "b"), "Expected one machine name")
	assert.Contains(t, m.fails("version", "nope"), `Docker machine "nope" does not exist`)
}

var allCommands = []string{
	"active", "config", "create", "env", "inspect", "ip", "kill", "ls", "mount", "provision",
	"regenerate-certs", "restart", "rm", "scp", "ssh", "start", "status", "stop", "upgrade", "url", "version",
}

func TestHelp(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	app := m.ok().stdout
	assert.True(t, strings.HasPrefix(app, "Usage: docker-machine [OPTIONS] COMMAND [arg...]\n\nCreate and manage machines running Docker.\n\nVersion: "), app)
	assert.Contains(t, app, "\nAuthor:\n  Docker Machine Contributors - <https://github.com/docker/machine>\n")
	assert.Contains(t, app, "\nRun 'docker-machine COMMAND --help' for more information on a command.\n")
	assert.Equal(t, 1, strings.Count(app, "--help, -h"), "help flag listed once")
	assert.Equal(t, 1, strings.Count(app, "--version, -v"), "version flag listed once")
	for _, flag := range []string{"--debug, -D", "--storage-path, -s", "[$MACHINE_STORAGE_PATH]", "--tls-ca-cert", "--tls-ca-key", "--tls-client-cert", "--tls-client-key", "--github-api-token", "--native-ssh", "--bugsnag-api-token"} {
		assert.Contains(t, app, flag)
	}
	// Every command is listed, in the original's order.
	cmdSection := app[strings.Index(app, "\nCommands:\n"):]
	last := -1
	for _, c := range []string{"active", "config", "create", "env", "inspect", "ip", "kill", "ls", "provision", "regenerate-certs", "restart", "rm", "ssh", "scp", "mount", "start", "status", "stop", "upgrade", "url", "version", "help, h"} {
		i := strings.Index(cmdSection, "\n  "+c+" ")
		if assert.GreaterOrEqual(t, i, 0, c) {
			assert.Greater(t, i, last, "%s out of order", c)
			last = i
		}
	}
	assert.Equal(t, app, m.ok("--help").stdout)
	assert.Equal(t, app, m.ok("-h").stdout)
	assert.Equal(t, app, m.ok("help").stdout)

	for _, c := range allCommands {
		want := "Usage: docker-machine " + c + " "
		for _, args := range [][]string{{c, "--help"}, {c, "-h"}, {"help", c}} {
			r := m.run(args...)
			assert.Equal(t, 0, r.code, "%v\n%s", args, r)
			assert.True(t, strings.HasPrefix(r.stdout, want), "%v:\n%s", args, r)
		}
	}
	ls := m.ok("ls", "--help").stdout
	assert.Equal(t, "Usage: docker-machine ls [OPTIONS] [arg...]\n\nList machines\n\nOptions:\n\n", ls[:strings.Index(ls, "   --quiet")])
	assert.Contains(t, ls, "--timeout, -t \"10\"")
	env := m.ok("env", "--help").stdout
	assert.Contains(t, env, "\nDescription:\n   Argument is a machine name.\n")
	assert.NoDirExists(t, m.root, "help writes nothing")
}

func TestUnknownCommandAndUsageErrors(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	assert.Equal(t, "docker-machine: 'bogus' is not a docker-machine command. See 'docker-machine --help'.", m.fails("bogus"))
	// The original's first line, then what was wrong and where to look.
	_, line, hints := m.failsHinting(opts{}, "ls", "--bogus")
	assert.Equal(t, "Incorrect Usage.", line)
	assert.Equal(t, "flag provided but not defined: -bogus\nSee 'docker-machine ls --help'.", hints)
	assert.Contains(t, m.fails("--bogus"), "Incorrect Usage")
	assert.Contains(t, m.fails("rm", "--bogus", "x"), "Incorrect Usage")
	assert.Contains(t, m.fails("env", "--nope"), "Incorrect Usage")
	assert.Contains(t, m.fails("help", "bogus"), "bogus")

	r := m.runWith(opts{env: map[string]string{"MACHINE_DEBUG": "maybe"}}, "ls")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "Error parsing boolean value from MACHINE_DEBUG")
	assert.NoDirExists(t, m.root)
}

func TestRm(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		m.create(n, url)
	}
	header := func(names string) string {
		return "About to remove " + names + "\nWARNING: This action will delete both local reference and remote instance.\n"
	}

	// Prompt answered n: nothing removed, exit 0.
	r := m.runWith(opts{stdin: "n\n"}, "rm", "a")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, header("a")+"Are you sure? (y/n): ", r.stdout)
	assert.Empty(t, r.stderr)
	assert.DirExists(t, m.machineDir("a"))

	// No answer at all (EOF): nothing removed.
	r = m.runWith(opts{stdin: ""}, "rm", "a")
	require.Equal(t, 0, r.code, r)
	assert.DirExists(t, m.machineDir("a"))

	// y (or Y, yes) removes.
	r = m.runWith(opts{stdin: "y\n"}, "rm", "a")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, header("a")+"Are you sure? (y/n): Successfully removed a\n", r.stdout)
	assert.NoDirExists(t, m.machineDir("a"))
	r = m.runWith(opts{stdin: "Yes\n"}, "rm", "b")
	require.Equal(t, 0, r.code, r)
	assert.NoDirExists(t, m.machineDir("b"))

	// -y and flags after names.
	r = m.ok("rm", "-y", "c")
	assert.Equal(t, header("c")+"Successfully removed c\n", r.stdout)
	r = m.ok("rm", "d", "-y")
	assert.Equal(t, header("d")+"Successfully removed d\n", r.stdout)

	// -f implies yes.
	r = m.ok("rm", "-f", "e", "f")
	assert.Equal(t, header("e, f")+"Successfully removed e\nSuccessfully removed f\n", r.stdout)

	// Unknown name and no name.
	r = m.runWith(opts{}, "rm", "-y", "nope")
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, header("nope"), r.stdout)
	assert.Equal(t, `Error removing host "nope": Docker machine "nope" does not exist. Use "docker-machine ls" to list machines. Use "docker-machine create" to add a new one.`+"\n", r.stderr)
	_, line, hints := m.failsHinting(opts{}, "rm")
	assert.Equal(t, "Error: Expected to get one or more machine names as arguments", line)
	assert.Equal(t, "See 'docker-machine rm --help'.", hints)

	// Nothing is left: no machine, no temp or .removing directories.
	assert.Empty(t, m.ok("ls", "-q").stdout)
	entries := m.hashStore()
	for p := range entries {
		assert.NotContains(t, p, ".removing", p)
		assert.NotContains(t, p, ".tmp", p)
	}
}

// Commands that need SSH fail clearly on a none machine; lifecycle
// commands say what a none machine cannot do.
func TestNoneMachineLimits(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("dev", url)
	for _, args := range [][]string{
		{"ssh", "dev"},
		{"ssh", "dev", "uname", "-a"},
		{"provision", "dev"},
		{"regenerate-certs", "-f", "dev"},
		{"upgrade", "dev"},
	} {
		// Progress lines (e.g. "Regenerating TLS certificates") may come
		// first; the error is one line.
		_, line := m.failsPrinting(opts{}, args...)
		assert.Contains(t, strings.ToLower(line), "ssh", "%v: %s", args, line)
		assert.Contains(t, line, "dev", args)
	}
	for _, c := range []struct{ cmd, stdout, want string }{
		{"stop", "Stopping \"dev\"...\n", "hosts without a driver cannot be stopped"},
		{"kill", "Killing \"dev\"...\n", "hosts without a driver cannot be killed"},
		{"restart", "Restarting \"dev\"...\n", "hosts without a driver cannot be restarted"},
		// The none machine always reports Running, so start refuses as
		// the original did.
		{"start", "", `Machine "dev" is already running.`},
	} {
		stdout, line := m.failsPrinting(opts{}, c.cmd, "dev")
		assert.Equal(t, c.stdout, stdout, c.cmd)
		assert.Contains(t, line, c.want, c.cmd)
	}
	for _, args := range [][]string{{"start", "nope"}, {"stop", "nope"}, {"kill", "nope"}, {"restart", "nope"}, {"provision", "nope"}, {"upgrade", "nope"}, {"regenerate-certs", "-f", "nope"}, {"ssh", "nope"}} {
		_, line := m.failsPrinting(opts{}, args...)
		assert.Contains(t, line, `Docker machine "nope" does not exist`, args)
	}
	// The machine still works.
	assert.Equal(t, url+"\n", m.ok("url", "dev").stdout)
}
