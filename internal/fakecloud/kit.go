package fakecloud

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

// Kit backs instances with systemd-nspawn machines of the test-host kit
// (internal/testhost): a real Debian host in a network namespace the kit
// made, reached at its address there. At boot the fake does what
// cloud-init does on the clouds' images: it creates the image's default
// user (with passwordless sudo) unless it is root, installs the keys the
// client registered for it, stores the user data in
// /var/lib/cloud/instance/user-data.txt and runs it when it is a script.
// Stop and start power the machine off and on (its disk and address
// stay), terminate destroys it.
type Kit struct {
	// Flavour is the kit image (default testhost.Docker: Docker
	// installed, so create runs with --engine-install-method none).
	Flavour testhost.Flavour
	// Logf receives the kit's log lines (nil: discarded).
	Logf func(format string, args ...any)

	mu   sync.Mutex
	live map[*kitMachine]bool
}

// Boot starts a kit host for spec.
func (k *Kit) Boot(ctx context.Context, spec BootSpec) (Machine, error) {
	if err := testhost.Available(); err != nil {
		return nil, err
	}
	tb := testhost.NewDetached("fakecloud-"+spec.Name, k.Logf)
	var h *testhost.Host
	err := tb.Do(func() {
		flavour := k.Flavour
		if flavour == "" {
			flavour = testhost.Docker
		}
		h = testhost.StartNspawn(tb, testhost.Options{Flavour: flavour, NoEgress: true})
	})
	if err != nil {
		tb.Close()
		return nil, err
	}
	m := &kitMachine{h: h, tb: tb}
	if _, err := h.RunStdinContext(ctx, "sh -s", strings.NewReader(cloudInit(spec))); err != nil {
		_ = m.Destroy()
		return nil, fmt.Errorf("fakecloud: cloud-init on %s: %w", h.Name, err)
	}
	k.mu.Lock()
	if k.live == nil {
		k.live = map[*kitMachine]bool{}
	}
	k.live[m] = true
	m.k = k
	k.mu.Unlock()
	return m, nil
}

// Live lists the kit hosts not destroyed yet.
func (k *Kit) Live() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for m := range k.live {
		out = append(out, "kit host "+m.h.Name)
	}
	return out
}

// cloudInit is the script run as root on a new host.
func cloudInit(spec BootSpec) string {
	user := spec.User
	if user == "" {
		user = "root"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\nuser=%s\n", shellQuote(user))
	b.WriteString(`if [ "$user" != root ] && ! id -u "$user" >/dev/null 2>&1; then
  useradd -m -s /bin/bash "$user"
  echo "$user ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/90-cloud-init-users
  chmod 440 /etc/sudoers.d/90-cloud-init-users
fi
home=$(getent passwd "$user" | cut -d: -f6)
mkdir -p "$home/.ssh"
chmod 700 "$home/.ssh"
`)
	for _, k := range spec.AuthorizedKeys {
		fmt.Fprintf(&b, "printf '%%s\\n' %s >> \"$home/.ssh/authorized_keys\"\n", shellQuote(strings.TrimSpace(k)))
	}
	b.WriteString(`touch "$home/.ssh/authorized_keys"
chmod 600 "$home/.ssh/authorized_keys"
chown -R "$user:" "$home/.ssh"
mkdir -p /var/lib/cloud/instance
`)
	fmt.Fprintf(&b, "printf '%%s' %s | base64 -d > /var/lib/cloud/instance/user-data.txt\n", shellQuote(base64.StdEncoding.EncodeToString(spec.UserData)))
	b.WriteString(`if [ "$(head -c 2 /var/lib/cloud/instance/user-data.txt)" = '#!' ]; then
  chmod 700 /var/lib/cloud/instance/user-data.txt
  /var/lib/cloud/instance/user-data.txt > /var/log/cloud-init-output.log 2>&1
fi
`)
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

type kitMachine struct {
	k    *Kit
	h    *testhost.Host
	tb   *testhost.Detached
	once sync.Once
	err  error
}

func (m *kitMachine) Addr() string { return m.h.IP }

// Host is the kit host (for tests that look inside).
func (m *kitMachine) Host() *testhost.Host { return m.h }

func (m *kitMachine) PowerOff(_ context.Context, force bool) error { return m.h.PowerOff(force) }
func (m *kitMachine) PowerOn(context.Context) error                { return m.h.PowerOn() }

func (m *kitMachine) Destroy() error {
	m.once.Do(func() {
		m.err = m.h.Stop()
		m.tb.Close()
		if m.k != nil {
			m.k.mu.Lock()
			delete(m.k.live, m)
			m.k.mu.Unlock()
		}
	})
	return m.err
}

// KitHost returns the kit host backing a machine, or nil when the
// machine is not a kit host.
func KitHost(m Machine) *testhost.Host {
	if km, ok := m.(*kitMachine); ok {
		return km.h
	}
	return nil
}
