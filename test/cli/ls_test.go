package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func refused(port int) string {
	return fmt.Sprintf(`Unable to query docker version: Get "https://127.0.0.1:%d/version": dial tcp 127.0.0.1:%d: connect: connection refused`, port, port)
}

func TestLsDefaultTable(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	m.bootstrapCA()
	d := m.startDaemon()
	dead, port := deadURL(t)
	m.create("daemon", d.url)
	m.create("dead", dead)

	want := "" +
		"NAME     ACTIVE   DRIVER   STATE     URL                     SWARM   DOCKER    ERRORS\n" +
		"daemon   -        none     Running   " + d.url + "           v27.1.0   \n" +
		"dead     -        none     Running   " + dead + "           Unknown   " + refused(port) + "\n"
	assert.Equal(t, want, m.ok("ls").stdout)
	assert.Positive(t, d.requests.Load(), "the daemon was asked for its version")

	// DOCKER_HOST names the active machine.
	r := m.runWith(opts{env: map[string]string{"DOCKER_HOST": d.url}}, "ls")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, strings.Replace(want, "daemon   -  ", "daemon   *  ", 1), r.stdout)
	r = m.runWith(opts{env: map[string]string{"DOCKER_HOST": dead}}, "ls", "--format", "{{.Name}} {{.Active}} {{.ActiveHost}}")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "daemon - false\ndead * true\n", r.stdout)
}

func TestLsEmptyStore(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	assert.Equal(t, "NAME   ACTIVE   DRIVER   STATE   URL   SWARM   DOCKER   ERRORS\n", m.ok("ls").stdout)
	assert.Empty(t, m.ok("ls", "-q").stdout)
	assert.NoDirExists(t, m.root, "ls writes nothing")
}

func TestLsSortsNaturally(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	for _, n := range []string{"m10", "m2", "B", "a", "m1"} {
		m.create(n, url)
	}
	assert.Equal(t, "a\nB\nm1\nm2\nm10\n", m.ok("ls", "-q").stdout)
	assert.Equal(t, "a\nB\nm1\nm2\nm10\n", m.ok("ls", "--format", "{{.Name}}").stdout)
}

// filterStore has the machines of the original's its/ ls tests.
func filterStore(t *testing.T) *machine {
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("testmachine", url, "--engine-label", "com.class.app=foo1", "--engine-label", "env=prod")
	m.create("testmachine2", url, "--engine-label", "com.class.app=foo2")
	m.create("testmachine3", url)
	m.create("testmachine4", url)
	m.create("testmachine5", url)
	m.create("master", url, "--swarm-master", "--swarm-discovery", "token://x")
	m.create("agent", url, "--swarm", "--swarm-discovery", "token://x")
	m.create("loner", url, "--swarm", "--swarm-discovery", "token://y")
	return m
}

func TestLsFilters(t *testing.T) {
	t.Parallel()
	m := filterStore(t)
	all := "agent\nloner\nmaster\ntestmachine\ntestmachine2\ntestmachine3\ntestmachine4\ntestmachine5\n"
	tests := []struct {
		filters []string
		want    string
	}{
		{nil, all},
		{[]string{"driver=none"}, all},
		{[]string{"driver=NONE"}, all},
		{[]string{"driver=virtualbox"}, ""},
		{[]string{"state=Running"}, all},
		{[]string{"state=running"}, all},
		{[]string{"state=Paused"}, ""},
		{[]string{"state=Saved"}, ""},
		{[]string{"state=Stopped"}, ""},
		{[]string{"state=Stopping"}, ""},
		{[]string{"state=Starting"}, ""},
		{[]string{"state=Error"}, ""},
		{[]string{"state=Timeout"}, ""},
		{[]string{"state=None"}, ""},
		{[]string{"state=none"}, ""},
		{[]string{"state=Sleeping"}, ""},
		{[]string{"state="}, ""},
		{[]string{"state=Stopped", "state=Running"}, all},
		{[]string{"name=testmachine2"}, "testmachine2\n"},
		{[]string{"name=^t.*e[3-5]"}, "testmachine3\ntestmachine4\ntestmachine5\n"},
		{[]string{"name=machine$"}, "testmachine\n"},
		{[]string{"name=^agent$", "name=^loner$"}, "agent\nloner\n"},
		{[]string{"NAME=^master"}, "master\n"},
		{[]string{"label=com.class.app=foo1"}, "testmachine\n"},
		{[]string{"label=com.class.app=FOO2"}, "testmachine2\n"},
		{[]string{"label=com.class.app=foo1", "label=com.class.app=foo2"}, "testmachine\ntestmachine2\n"},
		{[]string{"label=com.class.app=missing"}, ""},
		{[]string{"label=nolabel"}, ""},
		{[]string{"label=env=prod"}, "testmachine\n"},
		{[]string{"swarm=master"}, "agent\nmaster\n"},
		{[]string{"swarm=agent"}, ""},
		{[]string{"swarm=loner"}, ""},
		{[]string{"driver=none", "name=testmachine", "label=com.class.app=foo2"}, "testmachine2\n"},
		{[]string{"driver=none", "state=Running", "name=^t.*e[3-5]"}, "testmachine3\ntestmachine4\ntestmachine5\n"},
		{[]string{"swarm=master", "name=agent"}, "agent\n"},
		{[]string{"state=Stopped", "name=testmachine"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.filters, ","), func(t *testing.T) {
			m.t = t
			args := []string{"ls", "-q"}
			for _, f := range tt.filters {
				args = append(args, "--filter", f)
			}
			assert.Equal(t, tt.want, m.ok(args...).stdout)
			// The table shows the same rows.
			table := m.ok(append([]string{"ls", "--format", "table {{.Name}}"}, args[2:]...)...).stdout
			assert.Equal(t, "NAME\n"+tt.want, table)
		})
	}
}

func TestLsFilterErrors(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("a", url)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ls", "--filter", "foo"}, "Unsupported filter syntax"},
		{[]string{"ls", "--filter", "foo=bar"}, "Unsupported filter key 'foo'"},
		{[]string{"ls", "--filter", "name=["}, "error parsing regexp: missing closing ]: `[`"},
		{[]string{"ls", "--filter", "driver=none", "--filter", "bad"}, "Unsupported filter syntax"},
		{[]string{"ls", "--format", "{{.Name"}, "template parsing error"},
		{[]string{"ls", "--format", "{{.Nope}}"}, "Nope"},
		{[]string{"ls", "--bogus"}, "Incorrect Usage."},
		{[]string{"ls", "--timeout", "abc"}, "Incorrect Usage"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			m.t = t
			assert.Contains(t, m.fails(tt.args...), tt.want)
		})
	}
	m.t = t
	assert.Equal(t, "Unsupported filter syntax", m.fails("ls", "--filter", "foo"), "the original's text is the whole first line")
	assert.Equal(t, "Unsupported filter key 'foo'", m.fails("ls", "--filter", "foo=bar"))

	// Arguments: ignored, as by the original, with a note on stderr.
	r := m.run("ls", "-q", "extra")
	assert.Equal(t, 0, r.code, r)
	assert.Equal(t, "a\n", r.stdout)
	assert.Equal(t, "ls takes no arguments; ignoring extra (select machines with --filter name=REGEX)\n", r.stderr)
}

func TestLsFormat(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, port := deadURL(t)
	m.create("testmachine", url, "--engine-label", "app=web")
	m.create("testmachine2", url)
	tests := []struct {
		format, want string
	}{
		{"{{.DriverName}}", "none\nnone\n"},
		{"{{.Name}}: {{.DriverName}}", "testmachine: none\ntestmachine2: none\n"},
		{"table {{.Name}}: {{.DriverName}}", "NAME: DRIVER\ntestmachine: none\ntestmachine2: none\n"},
		{`table {{.Name}}\t{{.State}}\t{{.URL}}`, "NAME           STATE     URL\ntestmachine    Running   " + url + "\ntestmachine2   Running   " + url + "\n"},
		{"{{json .Name}} {{json .ActiveHost}} {{json .EngineOptions.Labels}}", "\"testmachine\" false [\"app=web\"]\ntestmachine2 false []\n"},
		{"{{.Name}}|{{.Error}}", "testmachine|" + refused(port) + "\ntestmachine2|" + refused(port) + "\n"},
		{"{{.Name}} {{.SwarmOptions.Strategy}} {{.EngineOptions.InstallURL}}", "testmachine spread https://get.docker.com\ntestmachine2 spread https://get.docker.com\n"},
		{"{{prettyjson .EngineOptions.Labels}}", "[\n    \"app=web\"\n]\n[]\n"},
		{`{{.Name}}\n--`, "testmachine\n--\ntestmachine2\n--\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			m.t = t
			want := tt.want
			if strings.HasPrefix(tt.format, "{{json .Name}}") {
				want = "\"testmachine\" false [\"app=web\"]\n\"testmachine2\" false []\n"
			}
			assert.Equal(t, want, m.ok("ls", "--format", tt.format).stdout)
			assert.Equal(t, want, m.ok("ls", "-f", tt.format).stdout)
		})
	}
}

// {{json .}} renders the whole row object.
func TestLsFormatJSONRow(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, port := deadURL(t)
	m.create("dev", url, "--engine-label", "app=web")
	out := m.ok("ls", "--format", "{{json .}}").stdout
	require.True(t, strings.HasSuffix(out, "}\n"), out)
	var row struct {
		Name, Active, DriverName, URL, Swarm, Error, DockerVersion string
		ActiveHost, ActiveSwarm                                    bool
		State                                                      int
		EngineOptions                                              struct{ Labels []string }
		SwarmOptions                                               struct{ Host string }
		ResponseTime                                               int64
	}
	require.NoError(t, json.Unmarshal([]byte(out), &row), out)
	assert.Equal(t, "dev", row.Name)
	assert.Equal(t, "-", row.Active)
	assert.Equal(t, "none", row.DriverName)
	assert.Equal(t, 1, row.State, "Running")
	assert.Equal(t, url, row.URL)
	assert.Equal(t, "Unknown", row.DockerVersion)
	assert.Equal(t, refused(port), row.Error)
	assert.Equal(t, []string{"app=web"}, row.EngineOptions.Labels)
	assert.Equal(t, "tcp://0.0.0.0:3376", row.SwarmOptions.Host)
	assert.Positive(t, row.ResponseTime)
}

// -t bounds the time spent on one machine; a daemon that never answers
// gives a Timeout row and does not hold up the others.
func TestLsTimeout(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	dead, port := deadURL(t)
	hang := hangingURL(t)
	m.create("dead", dead)
	m.create("hang", hang)
	want := "" +
		"NAME   ACTIVE   DRIVER   STATE     URL                     SWARM   DOCKER    ERRORS\n" +
		"dead   -        none     Running   " + dead + "           Unknown   " + refused(port) + "\n" +
		"hang            none     Timeout                                             \n"
	assert.Equal(t, want, m.ok("ls", "-t", "1").stdout)
	assert.Equal(t, "dead\nhang\n", m.ok("ls", "-q", "--timeout", "1").stdout, "-q queries nothing")
	assert.Equal(t, "hang\n", m.ok("ls", "-q", "--timeout", "1", "--filter", "state=Timeout").stdout)
}

func TestLsSwarm(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("master", url, "--swarm-master", "--swarm-discovery", "token://x")
	m.create("agent", url, "--swarm", "--swarm-discovery", "token://x")
	m.create("plain", url)
	format := "{{.Name}}|{{.Active}}|{{.Swarm}}|{{.ActiveSwarm}}"
	assert.Equal(t, "agent|-|master|false\nmaster|-|master (master)|false\nplain|-||false\n", m.ok("ls", "--format", format).stdout)

	swarmURL := strings.Replace(url, url[strings.LastIndex(url, ":"):], ":3376", 1)
	r := m.runWith(opts{env: map[string]string{"DOCKER_HOST": swarmURL}}, "ls", "--format", format)
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "agent|-|master|false\nmaster|* (swarm)|master (master)|true\nplain|-||false\n", r.stdout)

	table := m.ok("ls").stdout
	assert.Contains(t, table, "master (master)")
	assert.Regexp(t, `(?m)^agent +- +none +Running +tcp://127\.0\.0\.1:\d+ +master +Unknown +Unable to query docker version`, table)
}
