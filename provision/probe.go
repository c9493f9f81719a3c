package provision

import (
	"fmt"
	"slices"
	"strings"
)

// probedFiles are hashed by the probe: everything docker-machine may
// write, for both layouts (the OS is not known yet when the probe runs).
var probedFiles = []string{
	systemdOptionsDir + "/ca.pem",
	systemdOptionsDir + "/server.pem",
	systemdOptionsDir + "/server-key.pem",
	dropInPath,
	boot2dockerOptionsDir + "/ca.pem",
	boot2dockerOptionsDir + "/server.pem",
	boot2dockerOptionsDir + "/server-key.pem",
	boot2dockerProfile,
}

// probe is what the single read-only command at the start of every
// operation learns about the host.
type probe struct {
	OSRelease    string
	Hostname     string // kernel hostname
	EtcHostname  string
	HostsHasName bool
	Dockerd      string // "" = not installed
	// DockerdPackages are the packages that own dockerd (e.g. docker.io
	// or docker-ce); empty when no package does or the host has no
	// dpkg, rpm or pacman.
	DockerdPackages []string
	Docker          string
	Tools           tools
	Active          string // systemctl is-active docker
	Enabled         string // systemctl is-enabled docker
	// NeedReload: docker.service's files changed on disk since systemd
	// loaded it (NeedDaemonReload), so a running daemon may not run
	// what they say.
	NeedReload bool
	// Job is the type of docker.service's pending job ("start": queued
	// at boot, waiting for containerd), "" when it has none.
	Job  string
	Sums map[string]string
}

// probeScript gathers os-release, hostname, Docker binaries and the
// packages that own dockerd, helper tools, service state and the hashes
// of the managed files in one round trip. It only reads.
func probeScript(machine string) string {
	files := make([]string, len(probedFiles))
	for i, f := range probedFiles {
		files[i] = shellQuote(f)
	}
	return strings.Join([]string{
		dockerdPathFunc,
		dockerdOwnerFunc,
		"echo @@os-release",
		"cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null",
		"echo",
		"echo @@hostname",
		"cat /proc/sys/kernel/hostname 2>/dev/null || hostname",
		"echo @@etc-hostname",
		"cat /etc/hostname 2>/dev/null",
		"echo",
		"echo @@hosts",
		"grep -qE " + shellQuote(hostsPattern(machine)) + " /etc/hosts 2>/dev/null && echo present",
		"echo @@dockerd",
		`dockerd=$(dockerd_path) && echo "$dockerd"`,
		"echo @@dockerd-pkg",
		`[ -z "$dockerd" ] || dockerd_owner "$dockerd"`,
		"echo @@docker",
		"command -v docker 2>/dev/null",
		"echo @@tools",
		"for t in curl wget systemctl base64 sha256sum; do command -v $t >/dev/null 2>&1 && echo $t; done",
		"echo @@service",
		"if command -v systemctl >/dev/null 2>&1; then echo \"active=$(systemctl is-active docker 2>/dev/null)\"; echo \"enabled=$(systemctl is-enabled docker 2>/dev/null)\"; echo \"reload=$(systemctl show -p NeedDaemonReload --value docker 2>/dev/null)\"; echo \"job=$(systemctl list-jobs --no-legend docker.service 2>/dev/null | head -n 1)\"; fi",
		"echo @@sums",
		"sha256sum " + strings.Join(files, " ") + " 2>/dev/null",
		"echo @@end",
		"exit 0",
	}, "\n") + "\n"
}

// parseProbe splits the probe output into its sections. Lines before the
// first marker (e.g. sudo warnings) are ignored.
func parseProbe(out string) (*probe, error) {
	sections := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if name, ok := strings.CutPrefix(l, "@@"); ok && !strings.Contains(name, " ") {
			cur = name
			sections[cur] = []string{}
			continue
		}
		if cur != "" {
			sections[cur] = append(sections[cur], l)
		}
	}
	if _, ok := sections["end"]; !ok {
		return nil, fmt.Errorf("unexpected output of the host probe:\n%s", out)
	}
	first := func(name string) string {
		for _, l := range sections[name] {
			if l = strings.TrimSpace(l); l != "" {
				return l
			}
		}
		return ""
	}
	p := &probe{
		OSRelease:    strings.Join(sections["os-release"], "\n"),
		Hostname:     first("hostname"),
		EtcHostname:  first("etc-hostname"),
		HostsHasName: first("hosts") == "present",
		Dockerd:      first("dockerd"),
		Docker:       first("docker"),
		Tools:        tools{},
		Sums:         map[string]string{},
	}
	for _, l := range sections["dockerd-pkg"] {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(p.DockerdPackages, l) {
			p.DockerdPackages = append(p.DockerdPackages, l)
		}
	}
	for _, l := range sections["tools"] {
		if l = strings.TrimSpace(l); l != "" {
			p.Tools[l] = true
		}
	}
	for _, l := range sections["service"] {
		if v, ok := strings.CutPrefix(l, "active="); ok {
			p.Active = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "enabled="); ok {
			p.Enabled = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "reload="); ok {
			p.NeedReload = strings.TrimSpace(v) == "yes"
		}
		// "<id> docker.service <type> <state>"
		if v, ok := strings.CutPrefix(l, "job="); ok {
			if f := strings.Fields(v); len(f) >= 3 && f[1] == "docker.service" {
				p.Job = f[2]
			}
		}
	}
	for _, l := range sections["sums"] {
		f := strings.Fields(l)
		if len(f) == 2 {
			p.Sums[strings.TrimPrefix(f[1], "*")] = f[0]
		}
	}
	if strings.TrimSpace(p.OSRelease) == "" {
		return nil, fmt.Errorf("the host has no /etc/os-release")
	}
	return p, nil
}
