package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/query"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

const defaultLsFormat = "table {{ .Name }}\t{{ .Active }}\t{{ .DriverName}}\t{{ .State }}\t{{ .URL }}\t{{ .Swarm }}\t{{ .DockerVersion }}\t{{ .Error}}"

var lsHeader = map[string]string{
	"Name":          "NAME",
	"Active":        "ACTIVE",
	"ActiveHost":    "ACTIVE_HOST",
	"ActiveSwarm":   "ACTIVE_SWARM",
	"DriverName":    "DRIVER",
	"State":         "STATE",
	"URL":           "URL",
	"SwarmOptions":  "SWARM_OPTIONS",
	"Swarm":         "SWARM",
	"EngineOptions": "ENGINE_OPTIONS",
	"Error":         "ERRORS",
	"DockerVersion": "DOCKER",
	"ResponseTime":  "RESPONSE",
}

func (r *session) lsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "List machines",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Enable quiet mode"},
			&cli.StringSliceFlag{Name: "filter", Usage: "Filter output based on conditions provided"},
			&cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Value: 10, Usage: "Timeout in seconds, default to 10s"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "Pretty-print machines using a Go template"},
		},
		Action: r.ls,
	}
}

// lsFilter holds the parsed --filter values: values of one key are OR'ed,
// different keys AND'ed.
type lsFilter struct {
	driver, state, swarm []string
	names                []*regexp.Regexp
	labels               [][2]string
}

func parseFilters(values []string) (*lsFilter, error) {
	f := &lsFilter{}
	for _, v := range values {
		key, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, withHint(errors.New("Unsupported filter syntax"), fmt.Sprintf("%q is not key=value; filters are driver=, state=, name=, swarm= and label=.", v))
		}
		switch strings.ToLower(key) {
		case "driver":
			f.driver = append(f.driver, val)
		case "state":
			// Any value, as the original took: an unknown one matches
			// nothing.
			f.state = append(f.state, val)
		case "name":
			re, err := regexp.Compile(val)
			if err != nil {
				return nil, withHint(err, fmt.Sprintf("The name filter %q is not a valid regular expression (Go RE2 syntax).", val))
			}
			f.names = append(f.names, re)
		case "swarm":
			f.swarm = append(f.swarm, val)
		case "label":
			k, lv, _ := strings.Cut(val, "=")
			f.labels = append(f.labels, [2]string{k, lv})
		default:
			return nil, withHint(fmt.Errorf("Unsupported filter key '%s'", strings.ToLower(key)), "The filter keys are driver, state, name, swarm and label.")
		}
	}
	return f, nil
}

func anyMatch(vals []string, pred func(string) bool) bool {
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if pred(v) {
			return true
		}
	}
	return false
}

// matchStatic applies every filter that needs no state query.
func (f *lsFilter) matchStatic(h *host.Host, masters map[string]string) bool {
	if !anyMatch(f.driver, func(v string) bool { return strings.EqualFold(v, h.DriverName) }) {
		return false
	}
	if !f.matchName(h.Name) {
		return false
	}
	so := h.HostOptions.SwarmOptions
	if !anyMatch(f.swarm, func(m string) bool {
		d, isMaster := masters[m]
		return isMaster && so != nil && so.Discovery == d
	}) {
		return false
	}
	if len(f.labels) > 0 {
		ok := false
		for _, l := range f.labels {
			for _, have := range h.HostOptions.EngineOptions.Labels {
				k, v, _ := strings.Cut(have, "=")
				if k == l[0] && strings.EqualFold(v, l[1]) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchName applies the name regexps (OR'ed).
func (f *lsFilter) matchName(name string) bool {
	if len(f.names) == 0 {
		return true
	}
	for _, re := range f.names {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

func (f *lsFilter) matchState(it query.Item) bool {
	return anyMatch(f.state, func(v string) bool {
		// None prints as "" (status, ls) but is named None in filters.
		return strings.EqualFold(v, it.State.String()) || it.State == state.None && strings.EqualFold(v, "None")
	})
}

func (r *session) ls(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() > 0 {
		// The original ignored arguments; so do we, but say so (on
		// stderr, which no client parses).
		fmt.Fprintf(r.Stderr, "ls takes no arguments; ignoring %s (select machines with --filter name=REGEX)\n", strings.Join(args(cmd), " "))
	}
	filter, err := parseFilters(cmd.StringSlice("filter"))
	if err != nil {
		return err
	}
	format := cmd.String("format")
	if format == "" {
		format = defaultLsFormat
	}
	tmpl, err := parseRowTemplate(format)
	if err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	results, err := r.api.Store.LoadAll()
	if err != nil {
		return err
	}
	masters := map[string]string{}
	for _, res := range results {
		if res.Host != nil && res.Host.HostOptions.SwarmOptions != nil && res.Host.HostOptions.SwarmOptions.Master {
			masters[res.Name] = res.Host.HostOptions.SwarmOptions.Discovery
		}
	}
	var hosts []*host.Host
	var broken []query.Item
	needsConfig := len(filter.driver)+len(filter.swarm)+len(filter.labels) > 0
	for _, res := range results {
		if res.Err != nil {
			// A machine that cannot load still lists (with its error),
			// unless a filter that needs its config is given.
			it := query.BrokenItem(query.Broken{Name: res.Name, Err: res.Err})
			if !needsConfig && filter.matchName(res.Name) && filter.matchState(it) {
				broken = append(broken, it)
			}
			continue
		}
		if filter.matchStatic(res.Host, masters) {
			hosts = append(hosts, res.Host)
		}
	}
	if cmd.Bool("quiet") && len(filter.state) == 0 {
		names := make([]string, 0, len(hosts)+len(broken))
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		for _, b := range broken {
			names = append(names, b.Name)
		}
		sortNatural(names, func(i int) string { return names[i] })
		return printLines(r.Stdout, names)
	}
	items := query.Run(ctx, hosts, query.Options{
		Timeout:    time.Duration(cmd.Int("timeout")) * time.Second,
		DockerHost: r.Getenv("DOCKER_HOST"),
	})
	var rows []query.Item
	for _, it := range items {
		if filter.matchState(it) {
			rows = append(rows, it)
		}
	}
	rows = append(rows, broken...)
	sortNatural(rows, func(i int) string { return rows[i].Name })
	if cmd.Bool("quiet") {
		names := make([]string, len(rows))
		for i, it := range rows {
			names[i] = it.Name
		}
		return printLines(r.Stdout, names)
	}
	anyRows := make([]any, len(rows))
	for i := range rows {
		anyRows[i] = rows[i]
	}
	return tmpl.render(r.Stdout, lsHeader, anyRows)
}

// printLines writes one line per string with a single write.
func printLines(w io.Writer, lines []string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sortNatural orders by lower-cased name with digit runs compared by
// value ("m2" before "m10"); names equal but for case keep a stable,
// case-sensitive order instead of colliding.
func sortNatural[T any](s []T, name func(int) string) {
	keys := make([]string, len(s))
	for i := range s {
		keys[i] = name(i)
	}
	idx := make([]int, len(s))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := keys[idx[a]], keys[idx[b]]
		if c := naturalCompare(strings.ToLower(ka), strings.ToLower(kb)); c != 0 {
			return c < 0
		}
		return ka < kb
	})
	out := make([]T, len(s))
	for i, j := range idx {
		out[i] = s[j]
	}
	copy(s, out)
}

func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) - len(tb)
			}
			if c := strings.Compare(ta, tb); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
