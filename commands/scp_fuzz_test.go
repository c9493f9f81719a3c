package commands

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

// scpSeesRemote says whether OpenSSH's scp reads arg as a remote end: an
// scp:// URI (scheme case-insensitive), or a colon before any slash
// outside [...] brackets (scp.c colon()); a leading colon is a file name.
func scpSeesRemote(arg string) bool {
	if len(arg) >= 6 && strings.EqualFold(arg[:6], "scp://") {
		return true
	}
	return colonBeforeSlash(arg)
}

func colonBeforeSlash(arg string) bool {
	if strings.HasPrefix(arg, ":") {
		return false
	}
	bracket := strings.HasPrefix(arg, "[")
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		next := byte(0)
		if i+1 < len(arg) {
			next = arg[i+1]
		}
		switch {
		case c == '@' && next == '[':
			bracket = true
		case c == ']' && next == ':' && bracket:
			return true
		case c == ':' && !bracket:
			return true
		case c == '/':
			return false
		}
	}
	return false
}

// rsyncSeesRemote says whether rsync reads arg as a remote end: an
// rsync:// URL, or a colon before any slash (an empty host too: rsync
// takes ":x" as remote).
func rsyncSeesRemote(arg string) bool {
	if len(arg) >= 8 && strings.EqualFold(arg[:8], "rsync://") {
		return true
	}
	i := strings.IndexAny(arg, ":/")
	return i >= 0 && arg[i] == ':'
}

// checkParse holds parseLocation to the spec (§3.14): [[user@]machine:][path],
// the first colon ends the machine unless a slash comes before it, and
// localhost: is local.
func checkParse(t *testing.T, s string, l location) {
	t.Helper()
	i := strings.IndexByte(s, ':')
	if i < 0 || strings.Contains(s[:i], "/") {
		require.Equal(t, location{path: s}, l, "%q is a local path", s)
		return
	}
	before, path := s[:i], s[i+1:]
	user, machine := "", before
	if j := strings.IndexByte(before, '@'); j >= 0 {
		user, machine = before[:j], before[j+1:]
	}
	require.Equal(t, path, l.path, "path of %q", s)
	if machine == "localhost" {
		require.False(t, l.remote(), "%q is local", s)
		return
	}
	require.Equal(t, machine, l.machine, "machine of %q", s)
	require.Equal(t, user, l.user, "user of %q", s)
}

// fuzzTarget is what resolve would fill in for a remote location.
func fuzzTarget(t *testing.T, l location, host string, port int) ssh.Target {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	require.NoError(t, os.WriteFile(kh, []byte("["+host+"]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n"), 0o600))
	tg := ssh.Target{User: "docker", Host: host, Port: port, KeyPaths: []string{filepath.Join(dir, "id_rsa")},
		KnownHostsFile: kh, HostKeyPolicy: ssh.HostKeyVerify}
	if l.user != "" {
		tg.User = l.user
	}
	return tg
}

// optionWords are the only words scpArgs and rsyncArgs put before "--".
var optionWords = map[string]bool{"-F": true, "/dev/null": true, "-3": true, "-r": true, "-q": true, "-o": true, "--progress": true, "-e": true}

// checkOptions requires argv to be bin, fixed options, "--" and then
// exactly the two user locations: no user word before "--".
func checkOptions(t *testing.T, argv []string, specs []string) {
	t.Helper()
	require.GreaterOrEqual(t, len(argv), 4)
	require.Equal(t, "--", argv[len(argv)-3], "argv %q", argv)
	require.Equal(t, specs, argv[len(argv)-2:])
	for i := 1; i < len(argv)-3; i++ {
		w := argv[i]
		switch {
		case optionWords[w]:
		case argv[i-1] == "-o":
			k, _, ok := strings.Cut(w, "=")
			require.True(t, ok, "-o %q", w)
			require.Regexp(t, `^[A-Za-z]+$`, k)
		case argv[i-1] == "-e":
			require.True(t, strings.HasPrefix(w, "ssh -F /dev/null "), "-e %q", w)
		default:
			t.Fatalf("unexpected word %q before -- in %q", w, argv)
		}
	}
}

// FuzzScpArgs parses two locations as scp does and builds the scp and
// rsync command lines. No panic; the split follows the spec; every user
// path is after "--"; a local path is never read as a remote end by scp
// or rsync, and a remote one names exactly the machine's host and the
// user's path.
func FuzzScpArgs(f *testing.F) {
	if _, err := exec.LookPath("scp"); err != nil {
		f.Skip("scp not installed (apt-get install openssh-client)")
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		f.Skip("rsync not installed (apt-get install rsync)")
	}
	for _, p := range [][2]string{{"m:/etc/hosts", "."}, {"./a", "m:b"}, {"-rf", "m:-oProxyCommand=x"}, {"root@m:~/x", "u@n:/tmp/"},
		{"a/b:c", "m:"}, {":x", "m:--"}, {"", ""}, {"localhost:/tmp/x", "m:y"}, {"[::1]:x", "m:y"},
		{"scp://h/x", "m:y"}, {"@m:x", "u@:y"}, {"a@b@m:x", "n:y"}, {"-", "--"}, {"m:a b", "c d"}, {"m:$(touch x)", "`x`"}} {
		f.Add(p[0], p[1], false, false, true)
		f.Add(p[0], p[1], true, true, false)
	}
	f.Fuzz(func(t *testing.T, a, b string, recursive, quiet, samePort bool) {
		if strings.ContainsRune(a+b, 0) {
			return // arguments cannot hold NUL
		}
		src, dst := parseLocation(a), parseLocation(b)
		checkParse(t, a, src)
		checkParse(t, b, dst)
		port := 22
		for i, l := range []*location{&src, &dst} {
			if l.remote() {
				l.target = fuzzTarget(t, *l, []string{"127.0.0.1", "127.0.0.2"}[i], port)
				if !samePort {
					port = 2222
				}
			}
		}
		argv, cleanup, err := scpArgs(src, dst, recursive, quiet)
		require.NoError(t, err)
		if cleanup != nil {
			defer cleanup()
		}
		checkOptions(t, argv, argv[len(argv)-2:])
		for i, l := range []location{src, dst} {
			spec := argv[len(argv)-2+i]
			if !l.remote() {
				assert.False(t, scpSeesRemote(spec), "scp reads the local path %q (from %q) as a remote end", spec, []string{a, b}[i])
				continue
			}
			require.True(t, scpSeesRemote(spec), "%q", spec)
			userHost := l.target.User + "@" + l.target.Host
			if strings.HasPrefix(spec, "scp://") {
				assert.True(t, strings.HasPrefix(spec, "scp://"+userHost+":"), "%q", spec)
				continue
			}
			assert.Equal(t, userHost+":"+l.path, spec)
		}

		rargv, err := rsyncArgs(src, dst, recursive, quiet)
		if src.remote() && dst.remote() {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		checkOptions(t, rargv, rargv[len(rargv)-2:])
		for i, l := range []location{src, dst} {
			spec := rargv[len(rargv)-2+i]
			if !l.remote() {
				assert.False(t, rsyncSeesRemote(spec), "rsync reads the local path %q (from %q) as a remote end", spec, []string{a, b}[i])
				continue
			}
			prefix := l.target.User + "@" + l.target.Host + ":"
			require.True(t, strings.HasPrefix(spec, prefix), "%q", spec)
			assert.False(t, strings.HasPrefix(spec[len(prefix):], ":"), "rsync reads %q (from %q) as a daemon module, not the path %q", spec, []string{a, b}[i], l.path)
		}
	})
}
