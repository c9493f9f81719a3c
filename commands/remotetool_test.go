package commands

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRemoteToolMissing(t *testing.T) {
	for _, c := range []struct {
		line, tool string
		want       bool
	}{
		{"bash: line 1: rsync: command not found", "rsync", true},
		{"bash: rsync: command not found\r", "rsync", true},
		{"/bin/bash: line 1: rsync: command not found", "rsync", true},
		{"sh: 1: rsync: not found", "rsync", true},
		{"sh: rsync: not found", "rsync", true},
		{"zsh:1: command not found: rsync", "rsync", true},
		{"fish: Unknown command: rsync", "rsync", true},
		{"bash: line 1: /usr/lib/openssh/sftp-server: No such file or directory", "sftp-server", true},
		{"sh: 1: /usr/libexec/openssh/sftp-server: not found", "sftp-server", true},
		// Not the tool, or not a missing program.
		{"bash: line 1: rsyncx: command not found", "rsync", false},
		{"bash: line 1: xrsync: command not found", "rsync", false},
		{"bash: line 1: /opt/my-rsync: No such file or directory", "rsync", false},
		{"rsync: [sender] link_stat \"/tmp/nope\" failed: No such file or directory (2)", "rsync", false},
		{"rsync: change_dir \"/x\" failed: No such file or directory (2)", "rsync", false},
		{"rsync error: some files/attrs were not transferred (see previous errors) (code 23)", "rsync", false},
		{"rsync: connection unexpectedly closed (0 bytes received so far) [sender]", "rsync", false},
		{"remote host has disconnected", "sftp-server", false},
		{"", "rsync", false},
	} {
		assert.Equal(t, c.want, remoteToolMissing(c.line, c.tool), "%q %s", c.line, c.tool)
	}
}

// The filter passes stderr through line by line, also when the lines
// arrive in pieces, and drops the not-found line and all that follows.
func TestToolFilter(t *testing.T) {
	feed := func(tool string, chunks ...string) (string, bool) {
		var out strings.Builder
		f := &toolFilter{w: &out, tool: tool}
		for _, c := range chunks {
			n, err := f.Write([]byte(c))
			assert.NoError(t, err)
			assert.Equal(t, len(c), n)
		}
		assert.NoError(t, f.Close())
		return out.String(), f.missing
	}

	out, missing := feed("rsync", "Warning: per", "manently added\nbash: line 1: rs", "ync: command not found\n",
		"rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n",
		"rsync error: remote command not found (code 127) at io.c(232) [sender=3.2.7]\n")
	assert.True(t, missing)
	assert.Equal(t, "Warning: permanently added\n", out)

	out, missing = feed("rsync", "rsync: link_stat \"/x\" failed: No such file or directory (2)\n", "last line, no newline")
	assert.False(t, missing)
	assert.Equal(t, "rsync: link_stat \"/x\" failed: No such file or directory (2)\nlast line, no newline", out)

	out, missing = feed("rsync", "ok\n", "sh: 1: rsync: not found")
	assert.True(t, missing, "a last line without newline is checked too")
	assert.Equal(t, "ok\n", out)
}

func TestMissingToolError(t *testing.T) {
	err := &missingToolError{tool: "rsync", machine: "dev", fix: "install it there, or use scp without --delta"}
	assert.Equal(t, `rsync is not installed on machine "dev": install it there, or use scp without --delta`, err.Error())
	assert.Equal(t, "dev", remoteMachine(location{path: "/l"}, location{machine: "dev", path: "x"}))
	assert.Equal(t, "src", remoteMachine(location{machine: "src", path: "x"}, location{path: "/l"}))
}
