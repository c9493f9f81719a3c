package ec2fake

import (
	"path"
	"sort"
	"strconv"
	"strings"
)

// params are the form values of a query-protocol request.
type params map[string]string

// list returns prefix.1, prefix.2, … up to the first missing index.
func (p params) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := p[prefix+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v)
	}
}

// filters returns Filter.N.Name -> values.
func (p params) filters() map[string][]string {
	out := map[string][]string{}
	for i := 1; ; i++ {
		name, ok := p["Filter."+strconv.Itoa(i)+".Name"]
		if !ok {
			return out
		}
		out[name] = append(out[name], p.list("Filter."+strconv.Itoa(i)+".Value")...)
	}
}

// tags returns prefix.N.Key/Value pairs.
func (p params) tags(prefix string) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		k, ok := p[prefix+"."+strconv.Itoa(i)+".Key"]
		if !ok {
			return out
		}
		out[k] = p[prefix+"."+strconv.Itoa(i)+".Value"]
	}
}

// tagSpecs returns the tags of TagSpecification.N for a resource type.
func (p params) tagSpecs(resourceType string) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		pre := "TagSpecification." + strconv.Itoa(i)
		rt, ok := p[pre+".ResourceType"]
		if !ok {
			return out
		}
		if rt == resourceType {
			for k, v := range p.tags(pre + ".Tag") {
				out[k] = v
			}
		}
	}
}

func (p params) boolean(key string) bool { return p[key] == "true" }

// match tells whether value matches one of the filter's values, which
// may hold * and ? wildcards.
func match(values []string, value string) bool {
	for _, v := range values {
		if ok, _ := path.Match(strings.ReplaceAll(v, "/", "\x00"), strings.ReplaceAll(value, "/", "\x00")); ok {
			return true
		}
	}
	return false
}

// tagFilters checks tag:KEY filters against tags.
func tagFilters(f map[string][]string, tags map[string]string) bool {
	for name, values := range f {
		if k, ok := strings.CutPrefix(name, "tag:"); ok {
			v, has := tags[k]
			if !has || !match(values, v) {
				return false
			}
		}
		if name == "tag-key" {
			found := false
			for k := range tags {
				found = found || match(values, k)
			}
			if !found {
				return false
			}
		}
	}
	return true
}

// journalParams drops Action and Version and the signature's noise.
func journalParams(p params) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		if k != "Action" && k != "Version" {
			out[k] = v
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
