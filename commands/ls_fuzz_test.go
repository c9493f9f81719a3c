package commands

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/query"
	"github.com/docker-machine-ng/machine/libmachine/state"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// fuzzHosts are the fixed machines fuzzed filters are matched against.
func fuzzHosts() []*host.Host {
	mk := func(name, driver string, labels []string, so *swarm.Options) *host.Host {
		return &host.Host{Name: name, DriverName: driver, HostOptions: &host.Options{
			EngineOptions: &engine.Options{Labels: labels},
			SwarmOptions:  so,
		}}
	}
	return []*host.Host{
		mk("dev", "virtualbox", []string{"env=dev", "tier=db"}, &swarm.Options{}),
		mk("master", "generic", nil, &swarm.Options{IsSwarm: true, Master: true, Discovery: "token://x"}),
		mk("node-1", "generic", []string{"broken-label"}, &swarm.Options{IsSwarm: true, Discovery: "token://x"}),
		mk("weird", "none", []string{"=", "k=v=w", ""}, nil),
	}
}

// filterSyntaxOK says, independently of parseFilters, whether values are
// valid --filter arguments.
func filterSyntaxOK(values []string) bool {
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return false
		}
		switch strings.ToLower(k) {
		case "driver", "state", "swarm", "label":
		case "name":
			if _, err := regexp.Compile(val); err != nil {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// FuzzLsFilter parses newline-separated --filter values: no panic, an
// error exactly when a value is malformed (with the original's text on
// the first line and a hint after it), and a parsed filter matches every
// fixed machine without panicking.
func FuzzLsFilter(f *testing.F) {
	for _, s := range []string{"", "driver=generic", "DRIVER=none\nstate=Running", "name=^dev$", "name=(", "name=a{1001}",
		"label=env=dev", "label=", "label==", "swarm=master", "state=", "state=None", "bogus=1", "noequals", "=", "Name=[[:alpha:]]",
		"name=\\", "driver=\x00", "label=tier=DB\nlabel=env=prod", "name=.*\nname=x"} {
		f.Add(s)
	}
	hosts := fuzzHosts()
	masters := map[string]string{"master": "token://x"}
	items := []query.Item{{Name: "r", State: state.Running}, {Name: "n", State: state.None}, {Name: "e", State: state.Error}}
	f.Fuzz(func(t *testing.T, in string) {
		values := strings.Split(in, "\n")
		if in == "" {
			values = nil
		}
		flt, err := parseFilters(values)
		require.Equal(t, filterSyntaxOK(values), err == nil, "parseFilters(%q) = %v", values, err)
		if err != nil {
			require.Nil(t, flt)
			var h *hinted
			require.True(t, errors.As(err, &h), "a filter error carries a hint: %v", err)
			first, hint, _ := strings.Cut(err.Error(), "\n")
			require.NotEmpty(t, first)
			require.NotEmpty(t, hint)
			return
		}
		for _, h := range hosts {
			flt.matchStatic(h, masters)
		}
		for _, it := range items {
			flt.matchState(it)
		}
		if len(values) == 0 {
			for _, h := range hosts {
				require.True(t, flt.matchStatic(h, masters), "no filter matches everything")
			}
		}
	})
}

// limitWriter fails writes after n bytes, so a template that prints
// without end stops with an error.
type limitWriter struct {
	buf bytes.Buffer
	n   int
}

var errTooMuch = errors.New("output limit")

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.n {
		return 0, errTooMuch
	}
	return w.buf.Write(p)
}

// unbounded matches templates whose output or run time is bounded only
// by numbers in them ({{range 100000000}}, {{printf "%0999999999d" 1}},
// nested ranges): a user's own template may be as costly as they write
// it, so those are left out of the fuzz.
var unbounded = regexp.MustCompile(`\d{5,}|(?s)range.*range|%\*`)

// FuzzLsFormat parses each input as a --format value; a template that
// parses must render the header and a fixed list of rows with no panic
// (errors are fine: they are printed to the user).
func FuzzLsFormat(f *testing.F) {
	for _, s := range []string{defaultLsFormat, "", "table", "table {{.Name}}", "{{.Name}} {{.URL}}", "{{json .}}", "{{prettyjson .SwarmOptions}}",
		"{{.SwarmOptions.Master}}", "{{.EngineOptions.Labels}}", "{{.Nope}}", "{{", "{{end}}", "{{.Name.X}}", "{{range .EngineOptions.Labels}}{{.}}{{end}}",
		`{{define "a"}}{{template "a"}}{{end}}{{template "a"}}`, "{{index .EngineOptions.Labels 5}}", "{{slice .Name 3 1}}", "{{call .Name}}",
		"table {{.Name}}\\t{{.State}}\\n", "{{printf \"%v\" .ResponseTime}}", "{{.State.String}}", "{{len .}}", "{{range 3}}x{{end}}",
		"{{with $x := .Name}}{{$x}}{{end}}", "{{break}}", "{{template \"nope\"}}", "{{.ResponseTime.Hours}}"} {
		f.Add(s)
	}
	rows := []any{
		query.Item{Name: "default", Active: "*", DriverName: "virtualbox", State: state.Running, URL: "tcp://192.168.99.100:2376",
			EngineOptions: &engine.Options{Labels: []string{"a=b"}}, SwarmOptions: &swarm.Options{Master: true}, DockerVersion: "v18.09.7"},
		query.Item{Name: "nil-options", State: state.Stopped},
		query.Item{Name: "broken", State: state.Error, Error: "config.json is corrupt"},
	}
	f.Fuzz(func(t *testing.T, format string) {
		if unbounded.MatchString(format) {
			return // output bounded only by the template's own numbers: the user's own template
		}
		rt, err := parseRowTemplate(format)
		if err != nil {
			require.Nil(t, rt)
			require.NotEmpty(t, err.Error())
			return
		}
		w := &limitWriter{n: 1 << 20}
		err = rt.render(w, lsHeader, rows)
		if err != nil {
			assert.NotEmpty(t, err.Error())
		}
		// Same again: rendering keeps no state between runs.
		w2 := &limitWriter{n: 1 << 20}
		err2 := rt.render(w2, lsHeader, rows)
		assert.Equal(t, err == nil, err2 == nil)
		assert.Equal(t, w.buf.String(), w2.buf.String())
	})
}
