package crashreport

import (
	"encoding/json"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/redact"
)

// argSecrets returns the values of the flags on a command line whose
// names are secret (mcnflag.IsSecretName): `--x-token VALUE` and
// `--x-token=VALUE`.
func argSecrets(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, value, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !mcnflag.IsSecretName(name) {
			continue
		}
		if !inline && i+1 < len(args) {
			i++
			value = args[i]
		}
		if value != "" {
			out = append(out, value)
		}
	}
	return out
}

// envSecrets returns the values of environment variables whose names
// are secret (redact.SecretKey).
func envSecrets(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && v != "" && redact.SecretKey(k) {
			out = append(out, v)
		}
	}
	return out
}

// JSONSecrets returns the string values of a JSON document (a driver's
// configuration) under keys that name secrets (redact.SecretKey):
// "AccessToken", "SecretKey", "Password"…, at any depth.
func JSONSecrets(doc []byte) []string {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return nil
	}
	var out []string
	var visit func(secret bool, v any)
	visit = func(secret bool, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				visit(secret || redact.SecretKey(k), e)
			}
		case []any:
			for _, e := range x {
				visit(secret, e)
			}
		case string:
			if secret && x != "" {
				out = append(out, x)
			}
		}
	}
	visit(false, v)
	return out
}

// FlagSecrets returns the values of the secret flags among fs
// (mcnflag.IsSecret), read by get (the parsed command line, which falls
// back to the flag's environment variable).
func FlagSecrets(fs []mcnflag.Flag, get func(name string) []string) []string {
	var out []string
	for _, f := range fs {
		if mcnflag.IsSecret(f) {
			out = append(out, get(f.String())...)
		}
	}
	return out
}
