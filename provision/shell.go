package provision

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

var shellSafe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_./:=,@%+-]+$`) })

// shellQuote quotes s for a POSIX shell; words that need no quoting are
// left alone so that scripts stay readable.
func shellQuote(s string) string {
	if shellSafe().MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// scriptCommand is the command line of every remote script. The script
// itself goes on the SSH session's stdin, never on a command line: it
// embeds certificates and the server key, and an argument is readable
// by any user of either machine (ps, /proc/<pid>/cmdline) — of the local
// ssh process and of the remote shell. The shell reads the whole script
// before running any of it, so a command of the script that reads stdin
// (a package manager, an install script) cannot eat the rest of it; the
// commands get /dev/null instead. `sh -c` also makes the user's login
// shell irrelevant.
const scriptCommand = `sh -c 's=$(cat) || exit 1; exec </dev/null; eval "$s"'`

// wrapCommand returns the fixed, secret-free command line that runs a
// root script given on stdin: scriptCommand, prefixed with `sudo -n`
// when the SSH user is not root.
func wrapCommand(sudo bool) string {
	if sudo {
		return "sudo -n " + scriptCommand
	}
	return scriptCommand
}

// dockerdPathFunc finds the daemon: PATH first, then the places the
// packages put it (docker.io: /usr/sbin, docker-ce: /usr/bin).
const dockerdPathFunc = `dockerd_path() { for p in "$(command -v dockerd 2>/dev/null)" /usr/bin/dockerd /usr/sbin/dockerd /usr/local/bin/dockerd; do if [ -n "$p" ] && [ -x "$p" ]; then echo "$p"; return 0; fi; done; return 1; }`

// dockerdOwnerFunc prints the packages that own the file "$1" (or the
// file it resolves to), one per line. On dpkg systems it reads the file
// lists of the Docker packages (docker.io, docker-ce, moby-engine, ...)
// itself: dpkg-query -S loads the whole package database (26 ms on the
// test hosts' Debian image, 0.17 s with 750 packages, several times that
// under TCG) and the probe runs on every provision; the lists take 6 ms.
// rpm and pacman are asked directly (rpm prints "file ... is not owned by
// any package" on stdout: lines with blanks are dropped).
const dockerdOwnerFunc = `dockerd_owner() { r=$(readlink -f "$1" 2>/dev/null) && [ -n "$r" ] || r=$1; if [ -d /var/lib/dpkg/info ]; then for f in $(grep -lx -e "$1" -e "$r" /var/lib/dpkg/info/docker*.list /var/lib/dpkg/info/moby*.list 2>/dev/null); do f=${f##*/}; f=${f%.list}; echo "${f%%:*}"; done; elif command -v rpm >/dev/null 2>&1; then rpm -qf --qf '%{NAME}\n' "$1" 2>/dev/null | grep -v ' '; elif command -v pacman >/dev/null 2>&1; then pacman -Qqo "$1" 2>/dev/null; fi; }`

// dockerdMarker prefixes the line install and upgrade scripts print last.
const dockerdMarker = "@@dockerd="

// putFunc writes base64 content to a file atomically: temporary file
// created under umask 077 (a key is never readable by others, not even
// briefly), chmod, rename. The content never passes through shell
// quoting or expansion (the original's quirk 10).
const putFunc = `put() { mkdir -p "${1%/*}" && (umask 077 && printf '%s' "$3" | base64 -d > "$1.machine-tmp") && chmod "$2" "$1.machine-tmp" && mv -f "$1.machine-tmp" "$1"; }`

// remoteFile is one file docker-machine keeps on the host.
type remoteFile struct {
	Path    string
	Mode    string // octal, e.g. "0600"
	Content []byte
}

func putLine(f remoteFile) string {
	return fmt.Sprintf("put %s %s %s", shellQuote(f.Path), f.Mode, base64.StdEncoding.EncodeToString(f.Content))
}

// hostsPattern returns an ERE matching name as a whole word of /etc/hosts.
func hostsPattern(name string) string {
	return `[[:space:]]` + strings.ReplaceAll(name, ".", `\.`) + `([[:space:]]|$)`
}

// hostnameScript sets the hostname (spec 8.8) — only the parts that differ.
func hostnameScript(d *Distro, name string, p *probe) string {
	q := shellQuote(name)
	var b strings.Builder
	if d.kind == kindBoot2Docker {
		fmt.Fprintf(&b, "/usr/bin/sethostname %s\n", q)
		fmt.Fprintf(&b, "mkdir -p /var/lib/boot2docker/etc && echo %s > /var/lib/boot2docker/etc/hostname\n", q)
		return b.String()
	}
	if p.Hostname != name {
		fmt.Fprintf(&b, "hostname %s 2>/dev/null || echo %s > /proc/sys/kernel/hostname\n", q, q)
	}
	if p.EtcHostname != name {
		fmt.Fprintf(&b, "echo %s > /etc/hostname\n", q)
	}
	if !p.HostsHasName {
		fmt.Fprintf(&b, "if grep -q '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts; then sed -i 's/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1 %s/' /etc/hosts; else echo '127.0.1.1 %s' >> /etc/hosts; fi\n", name, name)
	}
	return b.String()
}

// installPackagesScript installs packages, refreshing metadata only when
// there is none or when the install fails (stale lists, missing package).
func installPackagesScript(d *Distro, pkgs ...string) string {
	pm := d.pm
	list := strings.Join(pkgs, " ")
	refresh := pm.refresh
	if d.refreshHint != "" {
		refresh = "{ " + d.refreshHint + " || true; } && " + refresh
	}
	var b strings.Builder
	if pm.stale != "" {
		fmt.Fprintf(&b, "if %s; then %s; fi\n", pm.stale, refresh)
	}
	fmt.Fprintf(&b, "%s %s || { %s && %s %s; }\n", pm.install, list, refresh, pm.install, list)
	return b.String()
}

// proxyExports exports the proxy variables of the engine environment so
// that downloads work behind the same proxy as the daemon.
func proxyExports(env []string) string {
	var b strings.Builder
	for _, e := range env {
		k, _, ok := strings.Cut(e, "=")
		if !ok {
			continue
		}
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY":
			fmt.Fprintf(&b, "export %s\n", shellQuote(e))
		}
	}
	return b.String()
}

// tools are the helper commands the probe found on the host.
type tools map[string]bool

// installScript installs Docker by method. It ends by printing the
// dockerd path after dockerdMarker.
func installScript(d *Distro, method, url string, t tools, env []string) (string, error) {
	var b strings.Builder
	b.WriteString("set -e\n")
	b.WriteString(dockerdPathFunc + "\n")
	b.WriteString(proxyExports(env))
	switch method {
	case MethodScript:
		fetch := ""
		switch {
		case t["curl"]:
			fetch = "curl -fsSL --show-error"
		case t["wget"]:
			fetch = "wget -qO-"
		case d.pm != nil:
			b.WriteString(installPackagesScript(d, "curl"))
			fetch = "curl -fsSL --show-error"
		default:
			return "", fmt.Errorf("neither curl nor wget is installed on the host and %s has no package manager to install curl", d)
		}
		// Download first: `curl | sh` would run an empty script and
		// succeed when the download fails.
		b.WriteString("f=$(mktemp)\n")
		fmt.Fprintf(&b, "%s %s > \"$f\" || { rm -f \"$f\"; echo 'downloading the Docker install script failed' >&2; exit 1; }\n", fetch, shellQuote(url))
		b.WriteString("rc=0; sh \"$f\" || rc=$?; rm -f \"$f\"; [ $rc -eq 0 ] || exit $rc\n")
	case MethodPackage:
		if d.dockerPkg == "" {
			return "", fmt.Errorf("%s has no distribution Docker package; use --engine-install-method script (get.docker.com) instead", d)
		}
		b.WriteString(installPackagesScript(d, d.dockerPkg))
	default:
		return "", fmt.Errorf("unknown install method %q", method)
	}
	b.WriteString("echo \"" + dockerdMarker + "$(dockerd_path || true)\"\n")
	return b.String(), nil
}

// upgradeScript upgrades the packages that own dockerd and docker
// (package method) or re-runs the install script (script method); the
// method comes from Distro.upgradeMethod.
func upgradeScript(d *Distro, method, url string, t tools, env []string) (string, error) {
	if method == MethodScript {
		return installScript(d, method, url, t, env)
	}
	if d.pm == nil {
		return "", fmt.Errorf("%s has no package manager", d)
	}
	var b strings.Builder
	b.WriteString("set -e\n")
	b.WriteString(dockerdPathFunc + "\n")
	b.WriteString(proxyExports(env))
	fmt.Fprintf(&b, "owner() { %s; }\n", d.pm.owner)
	b.WriteString("d=$(dockerd_path) || { echo 'dockerd not found' >&2; exit 1; }\n")
	b.WriteString("c=$(command -v docker 2>/dev/null || true)\n")
	b.WriteString(`pkgs=$( { owner "$d"; if [ -n "$c" ]; then owner "$c"; fi; } 2>/dev/null | sort -u | tr '\n' ' ')` + "\n")
	b.WriteString("[ -n \"$pkgs\" ] || { echo \"no package owns $d: Docker was not installed with the package manager; use --engine-install-method script\" >&2; exit 1; }\n")
	fmt.Fprintf(&b, "%s $pkgs\n", d.pm.upgrade)
	b.WriteString("echo \"" + dockerdMarker + "$(dockerd_path || true)\"\n")
	return b.String(), nil
}

// parseDockerdMarker returns the path printed after dockerdMarker.
func parseDockerdMarker(out string) string {
	path := ""
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), dockerdMarker); ok {
			path = v
		}
	}
	return path
}

// restartScript restarts the daemon so it reads a new configuration.
// For systemd: daemon-reload first (when the drop-in changed), stop the
// socket unit so socket activation cannot start the old configuration in
// between, restart (on failure print the unit status and journal so
// the error carries them without another round trip; the unit's start
// rate limit is reset first), enable when asked.
// docker0 is left
// alone: dockerd reconciles its bridge at start, and deleting it (the
// original did) cuts running containers off.
func restartScript(d *Distro, reload, enable bool) string {
	if d.kind == kindBoot2Docker {
		return "/etc/init.d/docker restart\n"
	}
	var b strings.Builder
	if reload {
		b.WriteString("systemctl daemon-reload\n")
	}
	if enable {
		b.WriteString(enableBackground)
	}
	b.WriteString("systemctl stop docker.socket 2>/dev/null || true\n")
	// docker.service allows a few starts a minute (Debian: 3 in 60 s),
	// and docker.socket, which it requires, a few more: a burst of
	// provision/regenerate-certs runs (retries on a full disk) must hit
	// neither limit ("A dependency job for docker.service failed").
	// A failed restart is tried once more after another reset (CI saw
	// docker.socket fail to start once on a loaded host: "Dependency
	// failed for docker.service"); a daemon that cannot start fails both
	// tries and the diagnostics follow.
	b.WriteString(resetFailed + "\n")
	b.WriteString("systemctl restart docker || { " + resetFailed + "; systemctl restart docker; } || { " + diagnosticsCommand(d) + "; exit 1; }\n")
	if enable {
		b.WriteString(enableWait)
	}
	return b.String()
}

// enableLine enables Docker at boot when it is not.
const enableLine = "systemctl is-enabled -q docker 2>/dev/null || systemctl enable docker\n"

// enableBackground and enableWait bracket a restart: on Debian `systemctl
// enable` runs the SysV compatibility scripts and takes about a second, so
// it runs alongside the restart (without a second daemon-reload) and the
// script waits for it before it ends.
const (
	enableBackground = "systemctl is-enabled -q docker 2>/dev/null || { systemctl enable --no-reload docker >/dev/null 2>&1 & enabling=$!; }\n"
	enableWait       = "[ -z \"${enabling:-}\" ] || wait \"$enabling\"\n"
)

// diagnosticsCommand prints what helps when the daemon does not come up.
func diagnosticsCommand(d *Distro) string {
	if d.kind == kindBoot2Docker {
		return "tail -n 20 /var/log/docker.log 2>&1"
	}
	// The units' states come from systemd itself (no journal lines, so
	// a message journald has not written yet cannot be missing there);
	// their messages follow, merged in time.
	return "systemctl status docker docker.socket --no-pager -n 0 2>&1; journalctl -u docker -u docker.socket -u containerd -n 30 --no-pager 2>&1"
}

// resetFailed clears the start rate limits and failed states of
// docker.service and docker.socket.
const resetFailed = "systemctl reset-failed docker.service docker.socket 2>/dev/null || true"
