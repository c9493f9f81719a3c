package commands

import (
	"bytes"
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/query"
	"github.com/docker-machine-ng/machine/libmachine/state"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

func TestSortNatural(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"m10", "m2", "m1"}, []string{"m1", "m2", "m10"}},
		{[]string{"B", "a", "C"}, []string{"a", "B", "C"}},
		{[]string{"test-10", "test-9", "dev", "default10", "default2", "default", "test-1"},
			[]string{"default", "default2", "default10", "dev", "test-1", "test-9", "test-10"}},
		// Case-only and zero-padding differences do not collide; ties
		// are broken by the exact name.
		{[]string{"m1", "m01", "M1"}, []string{"M1", "m01", "m1"}},
		{[]string{"n100000000000000000000", "n99999999999999999999"}, []string{"n99999999999999999999", "n100000000000000000000"}},
		{[]string{"a1b10", "a1b9", "a01b2"}, []string{"a01b2", "a1b9", "a1b10"}},
		{[]string{"x", "x1", "1", "0"}, []string{"0", "1", "x", "x1"}},
		{[]string{}, []string{}},
	}
	for _, tt := range tests {
		got := append([]string{}, tt.in...)
		sortNatural(got, func(i int) string { return got[i] })
		assert.Equal(t, tt.want, got, "%q", tt.in)
	}
}

func TestSortNaturalItems(t *testing.T) {
	items := []query.Item{{Name: "m10", URL: "u10"}, {Name: "m9", URL: "u9"}}
	sortNatural(items, func(i int) string { return items[i].Name })
	assert.Equal(t, []query.Item{{Name: "m9", URL: "u9"}, {Name: "m10", URL: "u10"}}, items, "whole rows move")
}

func TestNaturalCompare(t *testing.T) {
	tests := []struct {
		a, b string
		sign int
	}{
		{"a", "a", 0},
		{"a2", "a10", -1},
		{"a10", "a2", 1},
		{"a", "ab", -1},
		{"a007", "a7", 0},
		{"1a", "a", -1},
	}
	for _, tt := range tests {
		c := naturalCompare(tt.a, tt.b)
		switch tt.sign {
		case 0:
			assert.Zero(t, c, "%s vs %s", tt.a, tt.b)
		case -1:
			assert.Negative(t, c, "%s vs %s", tt.a, tt.b)
		default:
			assert.Positive(t, c, "%s vs %s", tt.a, tt.b)
		}
	}
}

func TestParseFilters(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    *lsFilter
		wantErr string
	}{
		{name: "none", in: nil, want: &lsFilter{}},
		{name: "driver", in: []string{"driver=none"}, want: &lsFilter{driver: []string{"none"}}},
		{name: "key is case-insensitive", in: []string{"DRIVER=virtualbox", "State=Running"}, want: &lsFilter{driver: []string{"virtualbox"}, state: []string{"Running"}}},
		{name: "every state", in: []string{"state=Running", "state=paused", "state=SAVED", "state=Stopped", "state=Stopping", "state=Starting", "state=Error", "state=Timeout", "state="},
			want: &lsFilter{state: []string{"Running", "paused", "SAVED", "Stopped", "Stopping", "Starting", "Error", "Timeout", ""}}},
		{name: "swarm", in: []string{"swarm=master"}, want: &lsFilter{swarm: []string{"master"}}},
		{name: "labels", in: []string{"label=com.class.app=foo1", "label=novalue", "label=k=v=w"},
			want: &lsFilter{labels: [][2]string{{"com.class.app", "foo1"}, {"novalue", ""}, {"k", "v=w"}}}},
		{name: "value keeps =", in: []string{"name=a=b"}, want: &lsFilter{names: []*regexp.Regexp{regexp.MustCompile("a=b")}}},
		{name: "None and unknown states are taken", in: []string{"state=None", "state=Sleeping"}, want: &lsFilter{state: []string{"None", "Sleeping"}}},
		{name: "no =", in: []string{"driver"}, wantErr: "Unsupported filter syntax\n\"driver\" is not key=value"},
		{name: "unknown key", in: []string{"Foo=bar"}, wantErr: "Unsupported filter key 'foo'\nThe filter keys are"},
		{name: "bad regexp", in: []string{"name=["}, wantErr: "error parsing regexp: missing closing ]: `[`\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFilters(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Equal(t, exitError, exitCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func testHost(name, driver string, labels []string, so swarm.Options) *host.Host {
	return &host.Host{
		Name:       name,
		DriverName: driver,
		HostOptions: &host.Options{
			EngineOptions: &engine.Options{Labels: labels},
			SwarmOptions:  &so,
		},
	}
}

func TestFilterMatchStatic(t *testing.T) {
	hosts := []*host.Host{
		testHost("testmachine", "none", []string{"com.class.app=foo1", "env=Prod"}, swarm.Options{}),
		testHost("testmachine2", "none", []string{"com.class.app=foo2"}, swarm.Options{}),
		testHost("testmachine3", "virtualbox", nil, swarm.Options{}),
		testHost("master", "none", nil, swarm.Options{IsSwarm: true, Master: true, Discovery: "token://x"}),
		testHost("agent", "generic", nil, swarm.Options{IsSwarm: true, Agent: true, Discovery: "token://x"}),
		testHost("other", "generic", nil, swarm.Options{IsSwarm: true, Agent: true, Discovery: "token://y"}),
		testHost("nolabel", "none", []string{"novalue"}, swarm.Options{}),
	}
	masters := map[string]string{"master": "token://x"}
	tests := []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"testmachine", "testmachine2", "testmachine3", "master", "agent", "other", "nolabel"}},
		{[]string{"driver=none"}, []string{"testmachine", "testmachine2", "master", "nolabel"}},
		{[]string{"driver=NONE"}, []string{"testmachine", "testmachine2", "master", "nolabel"}},
		{[]string{"driver=none", "driver=virtualbox"}, []string{"testmachine", "testmachine2", "testmachine3", "master", "nolabel"}},
		{[]string{"name=testmachine2"}, []string{"testmachine2"}},
		{[]string{"name=^t.*e[3-5]"}, []string{"testmachine3"}},
		{[]string{"name=machine"}, []string{"testmachine", "testmachine2", "testmachine3"}},
		{[]string{"name=^master$", "name=^agent$"}, []string{"master", "agent"}},
		{[]string{"label=com.class.app=foo1"}, []string{"testmachine"}},
		{[]string{"label=com.class.app=FOO2"}, []string{"testmachine2"}},
		{[]string{"label=com.class.app=foo1", "label=com.class.app=foo2"}, []string{"testmachine", "testmachine2"}},
		{[]string{"label=com.class.app=missing"}, nil},
		{[]string{"label=env=prod"}, []string{"testmachine"}},
		{[]string{"label=novalue"}, []string{"nolabel"}},
		{[]string{"label=COM.CLASS.APP=foo1"}, nil},
		{[]string{"swarm=master"}, []string{"master", "agent"}},
		{[]string{"swarm=agent"}, nil},
		{[]string{"swarm=nobody"}, nil},
		{[]string{"driver=none", "name=testmachine"}, []string{"testmachine", "testmachine2"}},
		{[]string{"driver=none", "label=com.class.app=foo2", "name=test"}, []string{"testmachine2"}},
		{[]string{"driver=generic", "swarm=master"}, []string{"agent"}},
		{[]string{"driver=virtualbox", "label=com.class.app=foo1"}, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.filters), func(t *testing.T) {
			f, err := parseFilters(tt.filters)
			require.NoError(t, err)
			var got []string
			for _, h := range hosts {
				if f.matchStatic(h, masters) {
					got = append(got, h.Name)
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFilterMatchState(t *testing.T) {
	items := []query.Item{{Name: "r", State: state.Running}, {Name: "s", State: state.Stopped}, {Name: "t", State: state.Timeout}, {Name: "e", State: state.Error}, {Name: "n", State: state.None}}
	tests := []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"r", "s", "t", "e", "n"}},
		{[]string{"state=running"}, []string{"r"}},
		{[]string{"state=Stopped", "state=Timeout"}, []string{"s", "t"}},
		{[]string{"state=Error"}, []string{"e"}},
		{[]string{"state="}, []string{"n"}},
		{[]string{"state=Paused"}, nil},
	}
	for _, tt := range tests {
		f, err := parseFilters(tt.filters)
		require.NoError(t, err)
		var got []string
		for _, it := range items {
			if f.matchState(it) {
				got = append(got, it.Name)
			}
		}
		assert.Equal(t, tt.want, got, "%v", tt.filters)
	}
}

func TestRowTemplate(t *testing.T) {
	rows := []any{
		query.Item{Name: "default", Active: "*", DriverName: "virtualbox", State: state.Running, URL: "tcp://192.168.99.100:2376", DockerVersion: "v18.09.7"},
		query.Item{Name: "dev", Active: "-", DriverName: "virtualbox", State: state.Stopped, DockerVersion: "Unknown"},
		query.Item{Name: "ec2", DriverName: "amazonec2", State: state.Timeout},
	}
	tests := []struct {
		name, format, want string
	}{
		{
			name:   "default table (spec example)",
			format: defaultLsFormat,
			want: "NAME      ACTIVE   DRIVER       STATE     URL                         SWARM   DOCKER     ERRORS\n" +
				"default   *        virtualbox   Running   tcp://192.168.99.100:2376           v18.09.7   \n" +
				"dev       -        virtualbox   Stopped                                       Unknown    \n" +
				"ec2                amazonec2    Timeout                                                  \n",
		},
		{name: "plain", format: "{{.Name}}", want: "default\ndev\nec2\n"},
		{name: "plain with spaces trimmed", format: "  {{.Name}}: {{.DriverName}}  ", want: "default: virtualbox\ndev: virtualbox\nec2: amazonec2\n"},
		{name: "table keyword", format: "table {{.Name}}: {{.DriverName}}", want: "NAME: DRIVER\ndefault: virtualbox\ndev: virtualbox\nec2: amazonec2\n"},
		{name: "escaped tab", format: `table {{.Name}}\t{{.State}}`, want: "NAME      STATE\ndefault   Running\ndev       Stopped\nec2       Timeout\n"},
		{name: "escaped newline", format: `{{.Name}}\n-`, want: "default\n-\ndev\n-\nec2\n-\n"},
		{name: "every header", format: "table {{.Name}} {{.Active}} {{.ActiveHost}} {{.ActiveSwarm}} {{.DriverName}} {{.State}} {{.URL}} {{.SwarmOptions}} {{.Swarm}} {{.EngineOptions}} {{.Error}} {{.DockerVersion}} {{.ResponseTime}}",
			want: "NAME ACTIVE ACTIVE_HOST ACTIVE_SWARM DRIVER STATE URL SWARM_OPTIONS SWARM ENGINE_OPTIONS ERRORS DOCKER RESPONSE\n"},
		{name: "json", format: "{{json .Name}} {{json .State}} {{json .ActiveHost}}", want: "\"default\" 1 false\n\"dev\" 4 false\n\"ec2\" 8 false\n"},
		{name: "prettyjson", format: `{{prettyjson .EngineOptions}}`, want: "null\nnull\nnull\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := parseRowTemplate(tt.format)
			require.NoError(t, err)
			var b bytes.Buffer
			r := rows
			if tt.name == "every header" {
				r = nil
			}
			require.NoError(t, rt.render(&b, lsHeader, r))
			assert.Equal(t, tt.want, b.String())
		})
	}
}

func TestRowTemplateJSONObject(t *testing.T) {
	rt, err := parseRowTemplate("{{json .EngineOptions}}|{{prettyjson .SwarmOptions}}")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, rt.render(&b, lsHeader, []any{query.Item{
		EngineOptions: &engine.Options{Labels: []string{"a=b"}, TLSVerify: true},
		SwarmOptions:  &swarm.Options{Master: true},
	}}))
	assert.Contains(t, b.String(), `"Labels":["a=b"]`)
	assert.Contains(t, b.String(), `"TlsVerify":true`)
	assert.Contains(t, b.String(), "|{\n    \"IsSwarm\": false,\n")
	assert.Contains(t, b.String(), "\n    \"Master\": true,\n")
}

func TestRowTemplateErrors(t *testing.T) {
	_, err := parseRowTemplate("{{.Name")
	assert.Error(t, err)
	rt, err := parseRowTemplate("{{.Nope}}")
	require.NoError(t, err)
	err = rt.render(&bytes.Buffer{}, lsHeader, []any{query.Item{}})
	assert.Error(t, err, "unknown field of a row")
}

// state=None selects machines in no known state (printed as an empty
// STATE), case-insensitively; other names match their own state only.
func TestMatchStateNone(t *testing.T) {
	f, err := parseFilters([]string{"state=none"})
	require.NoError(t, err)
	assert.True(t, f.matchState(query.Item{State: state.None}))
	assert.False(t, f.matchState(query.Item{State: state.Running}))
	f, err = parseFilters([]string{"state=Stopped", "state=bogus"})
	require.NoError(t, err)
	assert.True(t, f.matchState(query.Item{State: state.Stopped}))
	assert.False(t, f.matchState(query.Item{State: state.None}))
}
