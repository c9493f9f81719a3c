package cli_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The original's CLI integration suite (its/cli in docker/machine 0.16)
// runs the binary with the none driver and checks exit status and the
// combined output: whole-output substrings, the number of lines, and
// lines by index. The cases below are its cases, run the way its harness
// ran them (command line split on spaces with '…' quoting, stdout and
// stderr combined and trimmed).
type itsCase struct {
	cmd     string
	fail    bool
	output  []string       // substrings of the combined output
	lines   int            // number of lines, when > 0
	contain map[int]string // line i contains
	equal   map[int]string // line i equals
	shell   bool           // run through bash with "machine" replaced
}

var itsFields = regexp.MustCompile(`('[^']*')|(\S+)`)

func (m *machine) its(t *testing.T, c itsCase) {
	t.Helper()
	var cmd *exec.Cmd
	if c.shell {
		cmd = m.command(opts{}, "unused")
		cmd.Path = "/bin/bash"
		cmd.Args = []string{"bash", "-c", strings.ReplaceAll(c.cmd, "machine", dm)}
	} else {
		fields := itsFields.FindAllString(c.cmd, -1)
		for i, f := range fields {
			if len(f) > 2 && strings.HasPrefix(f, "'") && strings.HasSuffix(f, "'") {
				fields[i] = f[1 : len(f)-1]
			}
		}
		cmd = m.command(opts{}, fields...)
	}
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if c.fail {
		require.Error(t, err, "%s should fail\n%s", c.cmd, out)
	} else {
		require.NoError(t, err, "%s should succeed\n%s", c.cmd, out)
	}
	for _, s := range c.output {
		assert.Contains(t, out, s, c.cmd)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if c.lines > 0 {
		assert.Len(t, lines, c.lines, "%s\n%s", c.cmd, out)
	}
	for i, s := range c.contain {
		if assert.Greater(t, len(lines), i, c.cmd) {
			assert.Contains(t, lines[i], s, "%s line %d", c.cmd, i)
		}
	}
	for i, s := range c.equal {
		if assert.Greater(t, len(lines), i, c.cmd) {
			assert.Equal(t, s, lines[i], "%s line %d", c.cmd, i)
		}
	}
}

func TestOriginalSuiteCreateRm(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	notFound := `Driver "bogus" not found. Do you have the plugin binary "docker-machine-driver-bogus" accessible in your PATH?`
	invalid := `Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -`
	for _, c := range []itsCase{
		{cmd: "create -d bogus bogus", fail: true, output: []string{notFound}},
		{cmd: "create -d none", fail: true, output: []string{"Error: No machine name specified"}},
		{cmd: "create -d none --url none ∞", fail: true, output: []string{invalid}},
		{cmd: "create -d none --url none -", fail: true, output: []string{invalid}},
		{cmd: "create -d none --url none .", fail: true, output: []string{invalid}},
		{cmd: "create -d none --url none ..", fail: true, output: []string{invalid}},
		{cmd: "create -d none --url none a"},
		{cmd: "create -d none --url none a extra", fail: true, output: []string{"Invalid command line. Found extra arguments [extra]"}},
		{cmd: "create -d none --url none 0"},
		{cmd: "rm -y", fail: true, output: []string{"Error: Expected to get one or more machine names as arguments"}},
		{cmd: "rm ∞ -y", fail: true, output: []string{`Error removing host "∞": Docker machine "∞" does not exist.`}},
		{cmd: "rm 0 -y"},
		{cmd: "create -d none --url none ba"},
		{cmd: "echo y | machine rm ba", shell: true},
		{cmd: "create -d none --url none ab"},
		{cmd: "echo n | machine rm ab", shell: true},
		{cmd: "create -d none --url none c"},
		{cmd: "rm -f c", output: []string{"Successfully removed c"}},
	} {
		m.its(t, c)
	}
	assert.Equal(t, "a\nab\n", m.ok("ls", "-q").stdout, "declined rm keeps ab; the others are gone")
}

func TestOriginalSuiteLs(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	for _, c := range []itsCase{
		{cmd: "create -d none --url none --engine-label app=1 testmachine5"},
		{cmd: "create -d none --url none --engine-label foo=bar --engine-label app=1 testmachine4"},
		{cmd: "create -d none --url none testmachine3"},
		{cmd: "create -d none --url none testmachine2"},
		{cmd: "create -d none --url none testmachine"},
		{cmd: "ls --filter label=foo=bar", lines: 2, contain: map[int]string{0: "NAME", 1: "testmachine4"}},
		{cmd: "ls --filter label=foo=bar --filter label=app=1", lines: 3, contain: map[int]string{0: "NAME", 1: "testmachine4", 2: "testmachine5"}},
		{cmd: "ls --filter label=invalid=filter", lines: 1, contain: map[int]string{0: "NAME"}},
		{cmd: "ls --filter driver=none", lines: 6, contain: map[int]string{0: "NAME", 1: "testmachine", 2: "testmachine2", 3: "testmachine3", 4: "testmachine4", 5: "testmachine5"}},
		{cmd: "ls -q --filter driver=none", lines: 5, equal: map[int]string{0: "testmachine", 1: "testmachine2", 2: "testmachine3"}},
		{cmd: "ls --filter state=Running", lines: 6, contain: map[int]string{0: "NAME", 1: "testmachine", 2: "testmachine2", 3: "testmachine3"}},
		{cmd: "ls -q --filter state=Running", lines: 5, equal: map[int]string{0: "testmachine", 1: "testmachine2", 2: "testmachine3"}},
		{cmd: "ls --filter state=None", lines: 1, contain: map[int]string{0: "NAME"}},
		{cmd: "ls --filter state=Paused", lines: 1, contain: map[int]string{0: "NAME"}},
		{cmd: "ls --filter state=Saved", lines: 1, contain: map[int]string{0: "NAME"}},
		{cmd: "ls --filter state=Stopped", lines: 1, contain: map[int]string{0: "NAME"}},
		{cmd: "ls --filter state=Stopping", lines: 1, contain: map[int]string{0: "NAME"}},
		{cmd: "ls --filter state=Starting", lines: 1, contain: map[int]string{0: "NAME"}},
		{cmd: "ls --filter state=Error", lines: 1, contain: map[int]string{0: "NAME"}},
		{cmd: "ls --filter name=testmachine2", lines: 2, contain: map[int]string{0: "NAME", 1: "testmachine2"}},
		{cmd: "ls -q --filter name=testmachine3", lines: 1, equal: map[int]string{0: "testmachine3"}},
		{cmd: "ls --filter name=^t.*e[3-5]", lines: 4, contain: map[int]string{0: "NAME", 1: "testmachine3", 2: "testmachine4", 3: "testmachine5"}},
		{cmd: "ls -q --filter name=^t.*e[45]", lines: 2, equal: map[int]string{0: "testmachine4", 1: "testmachine5"}},
		{cmd: "create -d none --url tcp://127.0.0.1:2375 --swarm --swarm-master --swarm-discovery token://deadbeef testswarm"},
		{cmd: "create -d none --url tcp://127.0.0.1:2375 --swarm --swarm-discovery token://deadbeef testswarm2"},
		{cmd: "create -d none --url tcp://127.0.0.1:2375 --swarm --swarm-discovery token://deadbeef testswarm3"},
		{cmd: "ls --filter swarm=testswarm", lines: 4, contain: map[int]string{0: "NAME", 1: "testswarm", 2: "testswarm2", 3: "testswarm3"}},
		{cmd: "ls -q --filter swarm=testswarm --filter name=^t.*e --filter driver=none --filter state=Running", lines: 3,
			equal: map[int]string{0: "testswarm", 1: "testswarm2", 2: "testswarm3"}},
		{cmd: "ls --format {{.DriverName}}", lines: 8, equal: map[int]string{0: "none", 1: "none", 2: "none", 3: "none", 4: "none", 5: "none", 6: "none", 7: "none"}},
		{cmd: "ls --format 'table {{.Name}}: {{.DriverName}}'", lines: 9, contain: map[int]string{0: "NAME"},
			equal: map[int]string{1: "testmachine: none", 2: "testmachine2: none", 3: "testmachine3: none", 4: "testmachine4: none", 5: "testmachine5: none", 6: "testswarm: none", 7: "testswarm2: none", 8: "testswarm3: none"}},
	} {
		m.its(t, c)
	}
}

// The one-command cases of its/cli: no name and no "default" machine.
func TestOriginalSuiteNoName(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	for _, cmd := range []string{"inspect", "status", "url"} {
		m.its(t, itsCase{cmd: cmd, fail: true, output: []string{`Error: No machine name(s) specified and no "default" machine exists`}})
	}
}
