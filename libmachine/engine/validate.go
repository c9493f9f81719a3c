package engine

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

var envName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// Validate rejects options that cannot be rendered into the daemon's
// configuration safely. create calls it before anything exists, so a bad
// --engine-env fails at once instead of after a VM booted; provisioning
// calls it again for records edited by hand.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	for _, kv := range o.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !envName().MatchString(k) {
			return fmt.Errorf("invalid --engine-env %q: want NAME=value", kv)
		}
	}
	for _, f := range o.ArbitraryFlags {
		if strings.TrimLeft(f, "-") == "" {
			return fmt.Errorf("invalid --engine-opt %q", f)
		}
	}
	for _, group := range [][]string{o.Labels, o.InsecureRegistry, o.RegistryMirror, o.ArbitraryFlags, o.DNS, {o.StorageDriver, o.GraphDir, o.LogLevel}} {
		for _, v := range group {
			if strings.ContainsAny(v, "\n\r\x00") {
				return fmt.Errorf("invalid engine option %q: line breaks are not allowed", v)
			}
		}
	}
	return nil
}
