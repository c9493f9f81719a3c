// Package redact masks secrets in text before it is logged, shown in an
// error or sent in a crash report.
//
// String is the whole API. It masks, wherever they appear in the text:
//
//   - PEM blocks (certificates and keys): the body between the BEGIN and
//     END lines, or everything after a BEGIN line that has no END;
//   - runs of 120 or more base64 characters (files sent base64-encoded,
//     keys, certificates without their PEM armour);
//   - AWS access key ids (AKIA…/ASIA… and 16 upper-case letters or digits)
//     and GitHub, GitLab and DigitalOcean tokens, recognised by prefix;
//   - values of secret-looking keys: `password=…`, `token=…`,
//     `AWS_SECRET_ACCESS_KEY=…`, `?access_token=…`, `X-Amz-Signature=…`,
//     JSON `"password": "…"`, `--something-token VALUE`; the key stays,
//     the value becomes Mask. Keys naming a file or path
//     (`token_file=/x`) and values yes/no/true/false are kept;
//   - the password of URL userinfo (`scheme://user:PASSWORD@host`), the
//     whole userinfo of http(s) URLs (`https://TOKEN@host`), and the query
//     values `sig`, `key`, `code` and `auth` (`?sig=…`);
//   - Authorization header values (`Authorization: Bearer …`).
//
// Masking is idempotent: a masked text is returned unchanged.
//
// Two additions serve crash reports, which must not carry a secret that
// has no recognisable shape: SecretKey tells whether a key, flag or
// variable name names a secret (by the same rules as the `key=value`
// masking), and a Masker masks given secret values (a password passed
// on the command line, a token from the environment) wherever they
// appear, before applying String.
package redact

import (
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Mask replaces every secret String finds.
const Mask = "<redacted>"

type rule struct {
	// maybe is a cheap test that the rule can match at all.
	maybe func(s string) bool
	re    *regexp.Regexp
	// repl rewrites one match.
	repl func(m []string) string
}

// secretKey is a key whose value is a secret: the word may be part of a
// longer key (client_secret, AWS_SECRET_ACCESS_KEY, X-Amz-Security-Token).
const secretKey = `(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|signature)`

// rules are compiled on first use: most runs of the CLI mask nothing, and
// compiling them all would cost every command about a millisecond.
var rules = sync.OnceValue(func() []rule {
	return []rule{
		{
			maybe: func(s string) bool { return strings.Contains(s, "-----BEGIN ") },
			re:    regexp.MustCompile(`(?s)-----BEGIN ([A-Z0-9 ]{1,64})-----.*?(?:-----END [A-Z0-9 ]{1,64}-----|\z)`),
			repl: func(m []string) string {
				return "-----BEGIN " + m[1] + "-----" + Mask + "-----END " + m[1] + "-----"
			},
		},
		{
			maybe: func(s string) bool { return len(s) >= 120 },
			re:    regexp.MustCompile(`[A-Za-z0-9+/]{120,}={0,2}`),
			repl:  func([]string) string { return Mask },
		},
		{
			maybe: func(s string) bool {
				return strings.Contains(s, "AKIA") || strings.Contains(s, "ASIA") ||
					strings.Contains(s, "gh") || strings.Contains(s, "gl") ||
					strings.Contains(s, "dop_v1_") || strings.Contains(s, "GR1348941")
			},
			re:   regexp.MustCompile(`\b(?:(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|gl(?:pat|rt|dt|cbt|ptt|soat)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,}|dop_v1_[a-f0-9]{64})\b`),
			repl: func([]string) string { return Mask },
		},
		{
			maybe: func(s string) bool { return strings.Contains(s, "uthorization") || strings.Contains(s, "UTHORIZATION") },
			re:    regexp.MustCompile(`(?i)(authorization:[ \t]*)((?:bearer|basic|token|digest|aws4-hmac-sha256)[ \t]+)?[^\s"']+`),
			repl:  func(m []string) string { return m[1] + m[2] + Mask },
		},
		{
			maybe: func(s string) bool { return strings.Contains(s, "://") && strings.Contains(s, "@") },
			re:    regexp.MustCompile(`\b([A-Za-z][A-Za-z0-9+.-]*://)([^\s/?#@:'"]*)(:[^\s/?#@'"]*)?@`),
			repl: func(m []string) string {
				switch {
				case m[3] != "":
					return m[1] + m[2] + ":" + Mask + "@"
				case strings.HasPrefix(strings.ToLower(m[1]), "http") && m[2] != "":
					return m[1] + Mask + "@"
				}
				return m[0]
			},
		},
		{
			maybe: func(s string) bool { return strings.Contains(s, "=") },
			re:    regexp.MustCompile(`(?i)\b([A-Za-z0-9_.-]*` + secretKey + `[A-Za-z0-9_.-]*=)("[^"]*"|'[^']*'|[^\s&"';,)]+)`),
			repl: func(m []string) string {
				if keep(m[1], m[2]) {
					return m[0]
				}
				return m[1] + Mask
			},
		},
		{
			maybe: func(s string) bool { return strings.Contains(s, `":`) || strings.Contains(s, `" :`) },
			re:    regexp.MustCompile(`(?i)("[A-Za-z0-9_.-]*` + secretKey + `[A-Za-z0-9_.-]*"\s*:\s*)"(?:[^"\\]|\\.)*"`),
			repl: func(m []string) string {
				if keep(m[1], strings.Trim(m[0][len(m[1]):], `"`)) {
					return m[0]
				}
				return m[1] + `"` + Mask + `"`
			},
		},
		{
			maybe: func(s string) bool { return strings.Contains(s, "--") },
			re:    regexp.MustCompile(`(?i)(--[a-z0-9-]*` + secretKey + `[a-z0-9-]*[ \t]+)([^\s-][^\s]*)`),
			repl: func(m []string) string {
				if keep(m[1], m[2]) {
					return m[0]
				}
				return m[1] + Mask
			},
		},
		{
			maybe: func(s string) bool { return strings.Contains(s, "?") || strings.Contains(s, "&") },
			re:    regexp.MustCompile(`(?i)([?&](?:sig|key|code|auth)=)[^\s&#"']+`),
			repl:  func(m []string) string { return m[1] + Mask },
		},
	}
})

// keep tells values that cannot be secrets: keys naming a file, a path
// or a name, and booleans (`-o PasswordAuthentication=no`).
func keep(key, value string) bool {
	if keepKey(key) {
		return true
	}
	switch strings.ToLower(strings.Trim(value, `"'`)) {
	case "", "yes", "no", "true", "false", "none", "null", Mask:
		return true
	}
	return false
}

// keepKey tells keys whose values are not secrets although the key has a
// secret word in it: names of a file, a path, a directory, a name or a
// type (`token_file`, `ssh-key-path`, `PasswordAuthentication`).
func keepKey(key string) bool {
	k := strings.ToLower(strings.TrimRight(key, "=:\" \t"))
	for _, suffix := range []string{"path", "file", "dir", "name", "type", "authentication"} {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

var secretKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)` + secretKey) })

// SecretKey reports whether name (a flag, a JSON key, an environment
// variable) names a secret by the rules String applies to `key=value`:
// it contains password, passwd, passphrase, secret, token, api key,
// access key, private key, credential or signature, and does not name a
// file, path, directory, name or type. So "digitalocean-access-token",
// "AWS_SECRET_ACCESS_KEY" and "ClientSecret" are secret keys,
// "openstack-private-key-file" and "token_path" are not.
func SecretKey(name string) bool {
	return secretKeyRE().MatchString(name) && !keepKey(name)
}

// MinValueLen is the length below which a Masker ignores a value: masking
// every occurrence of two or three characters would mask half a text.
// Values that short are still masked where a rule recognises them (after
// `password=`, as the value of a `--…-token` flag).
const MinValueLen = 4

// Masker masks the secrets String finds and, before that, every
// occurrence of a given secret value: as written, quoted as Go or JSON
// quotes it, and URL-encoded. The zero value masks what String masks.
type Masker struct {
	r *strings.Replacer
}

// NewMasker returns a Masker for the given secret values; empty values
// and values shorter than MinValueLen are ignored.
func NewMasker(values ...string) *Masker {
	seen := map[string]bool{}
	var forms []string
	for _, v := range values {
		if len(v) < MinValueLen {
			continue
		}
		q := strconv.Quote(v)
		j, _ := json.Marshal(v)
		for _, f := range []string{v, q[1 : len(q)-1], string(j[1 : len(j)-1]), url.QueryEscape(v), url.PathEscape(v)} {
			if !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	if len(forms) == 0 {
		return &Masker{}
	}
	// Longest first: a value that contains another is masked whole.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Mask)
	}
	return &Masker{r: strings.NewReplacer(pairs...)}
}

// String masks the Masker's values in s, then what String masks.
func (m *Masker) String(s string) string {
	if m != nil && m.r != nil {
		s = m.r.Replace(s)
	}
	return String(s)
}

// String returns s with every secret it recognises replaced by Mask (see
// the package documentation for what is recognised).
func String(s string) string {
	for _, r := range rules() {
		if !r.maybe(s) {
			continue
		}
		s = replace(s, r)
	}
	return s
}

// replace rewrites every match of r in s, giving repl the submatches of
// each match in its context.
func replace(s string, r rule) string {
	all := r.re.FindAllStringSubmatchIndex(s, -1)
	if all == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, loc := range all {
		m := make([]string, len(loc)/2)
		for i := range m {
			if loc[2*i] >= 0 {
				m[i] = s[loc[2*i]:loc[2*i+1]]
			}
		}
		b.WriteString(s[last:loc[0]])
		b.WriteString(r.repl(m))
		last = loc[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
