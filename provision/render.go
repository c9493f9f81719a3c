package provision

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/engine"
)

// daemonConfig is what the daemon configuration is rendered from.
type daemonConfig struct {
	Dockerd    string // absolute path of dockerd on the host
	Port       int
	OptionsDir string
	Driver     string // provider label
	Engine     engine.Options
	// DefaultStorage is used when the user gave no storage driver;
	// "" lets dockerd choose (overlay2 where it works, btrfs on btrfs).
	DefaultStorage string
}

func (c daemonConfig) caPath() string   { return path.Join(c.OptionsDir, "ca.pem") }
func (c daemonConfig) certPath() string { return path.Join(c.OptionsDir, "server.pem") }
func (c daemonConfig) keyPath() string  { return path.Join(c.OptionsDir, "server-key.pem") }

func (c daemonConfig) storage() string {
	if c.Engine.StorageDriver != "" {
		return c.Engine.StorageDriver
	}
	return c.DefaultStorage
}

// labels returns the daemon labels: provider=<driver> first, unless the
// configuration already has a provider label (configs written by the
// original stored it in Labels), then the user's labels.
func (c daemonConfig) labels() []string {
	var out []string
	has := false
	for _, l := range c.Engine.Labels {
		if strings.HasPrefix(l, "provider=") {
			has = true
		}
	}
	if !has && c.Driver != "" {
		out = append(out, "provider="+c.Driver)
	}
	return append(out, c.Engine.Labels...)
}

// flagArgs are the daemon options shared by every configuration format,
// as separate words: labels, registries, mirrors, the config.json-only
// options, then each --engine-opt k=v as --k=v.
func (c daemonConfig) flagArgs() []string {
	var a []string
	for _, l := range c.labels() {
		a = append(a, "--label", l)
	}
	for _, r := range c.Engine.InsecureRegistry {
		a = append(a, "--insecure-registry", r)
	}
	for _, m := range c.Engine.RegistryMirror {
		a = append(a, "--registry-mirror", m)
	}
	for _, d := range c.Engine.DNS {
		a = append(a, "--dns", d)
	}
	if c.Engine.GraphDir != "" {
		a = append(a, "--data-root", c.Engine.GraphDir)
	}
	if c.Engine.Ipv6 {
		a = append(a, "--ipv6")
	}
	if c.Engine.LogLevel != "" {
		a = append(a, "--log-level", c.Engine.LogLevel)
	}
	if c.Engine.SelinuxEnabled {
		a = append(a, "--selinux-enabled")
	}
	for _, o := range c.Engine.ArbitraryFlags {
		a = append(a, "--"+strings.TrimLeft(o, "-"))
	}
	return a
}

// systemdArg escapes one ExecStart word: '%' (specifiers) and '$'
// (variable substitution) are doubled; words with other special
// characters are double-quoted with C escapes, which systemd undoes.
func systemdArg(s string) string {
	s = strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if s != "" && shellSafe().MatchString(s) {
		return s
	}
	return systemdQuote(s)
}

func systemdQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// systemdEnv renders one Environment= value: Go-quoted (systemd
// understands the same C escapes) with '%' doubled. Environment= does no
// '$' expansion.
func systemdEnv(kv string) string {
	return strings.ReplaceAll(strconv.Quote(kv), "%", "%%")
}

// renderDropIn renders /etc/systemd/system/docker.service.d/10-machine.conf.
// ExecStart= is cleared and set again on ONE line (systemd ignores
// continuation lines in the original's sense), listening on TCP and the
// unix socket directly — not fd://, so the unit works whether or not
// docker.socket passes a socket.
func renderDropIn(c daemonConfig, d *Distro) string {
	args := []string{c.Dockerd,
		"-H", fmt.Sprintf("tcp://0.0.0.0:%d", c.Port),
		"-H", "unix:///var/run/docker.sock",
	}
	if sd := c.storage(); sd != "" {
		args = append(args, "--storage-driver", sd)
	}
	args = append(args, "--tlsverify",
		"--tlscacert", c.caPath(),
		"--tlscert", c.certPath(),
		"--tlskey", c.keyPath())
	args = append(args, c.flagArgs()...)
	words := make([]string, 0, len(args)+len(d.extraExec))
	for _, a := range args {
		words = append(words, systemdArg(a))
	}
	words = append(words, d.extraExec...)

	var b strings.Builder
	b.WriteString("# Written by docker-machine; it is rewritten on every provision.\n")
	b.WriteString("[Service]\n")
	b.WriteString("ExecStart=\n")
	b.WriteString("ExecStart=" + strings.Join(words, " ") + "\n")
	for _, e := range d.extraEnv {
		b.WriteString("Environment=" + systemdEnv(e) + "\n")
	}
	for _, e := range c.Engine.Env {
		b.WriteString("Environment=" + systemdEnv(e) + "\n")
	}
	return b.String()
}

// shellDoubleQuote quotes s in double quotes for a shell: \ " $ ` escaped.
func shellDoubleQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`").Replace(s) + `"`
}

// renderProfile renders /var/lib/boot2docker/profile (spec 8.6), which
// boot2docker's init script sources. EXTRA_ARGS holds one option per
// line; single quotes inside are escaped so the file stays valid shell.
func renderProfile(c daemonConfig) string {
	var b strings.Builder
	b.WriteString("EXTRA_ARGS='\n")
	args := c.flagArgs()
	for i := 0; i < len(args); i++ {
		line := args[i]
		// Options that take a value are followed by it on the same line.
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			line += " " + args[i+1]
			i++
		}
		b.WriteString(strings.ReplaceAll(line, "'", `'\''`) + "\n")
	}
	b.WriteString("\n'\n")
	fmt.Fprintf(&b, "CACERT=%s\n", c.caPath())
	fmt.Fprintf(&b, "DOCKER_HOST='-H tcp://0.0.0.0:%d'\n", c.Port)
	fmt.Fprintf(&b, "DOCKER_STORAGE=%s\n", shellQuote(c.storage()))
	b.WriteString("DOCKER_TLS=auto\n")
	fmt.Fprintf(&b, "SERVERKEY=%s\n", c.keyPath())
	fmt.Fprintf(&b, "SERVERCERT=%s\n", c.certPath())
	b.WriteString("\n")
	for _, e := range c.Engine.Env {
		fmt.Fprintf(&b, "export %s\n", shellDoubleQuote(e))
	}
	return b.String()
}
