package registry

import (
	"context"
	"errors"
	"testing"

	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Without a compiled-in driver or a plugin binary on PATH: New says so in
// the original's words, Load keeps the machine as a placeholder.
func TestUnknownDriverWithoutPlugin(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := New("xnope", "m", "/store")
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Stored {
		t.Fatalf("New: %v", err)
	}
	if want := `Driver "xnope" not found. Do you have the plugin binary "docker-machine-driver-xnope" accessible in your PATH?`; err.Error() != want {
		t.Errorf("New: %q", err)
	}

	raw := []byte(`{"URL":"tcp://127.0.0.1:2376",  "MachineName":"m"}`)
	d, err := Load("xnope", "m", "/store", raw)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := d.(*Missing)
	if !ok {
		t.Fatalf("Load gave %T", d)
	}
	b, err := m.MarshalJSON()
	if err != nil || string(b) != string(raw) {
		t.Errorf("JSON not kept verbatim: %s %v", b, err)
	}
	if m.DriverName() != "xnope" || m.GetMachineName() != "m" {
		t.Errorf("names %q %q", m.DriverName(), m.GetMachineName())
	}
	if s, err := m.GetState(context.Background()); s != state.Error || err.Error() != `Driver "xnope" not found. Do you have the plugin binary accessible in your PATH?` {
		t.Errorf("GetState %v %v", s, err)
	}
	if err := m.Remove(context.Background()); !errors.As(err, &nf) || !nf.Stored {
		t.Errorf("Remove: %v", err)
	}
}
