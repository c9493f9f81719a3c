package provision

import (
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// OSRelease is the parsed content of /etc/os-release (os-release(5)).
type OSRelease struct {
	ID         string
	IDLike     string
	VersionID  string
	Name       string
	PrettyName string
	Version    string
	VariantID  string
	// Fields holds every assignment of the file, unquoted.
	Fields map[string]string
}

// Like returns the words of ID_LIKE, lower-cased, closest relative first.
func (o OSRelease) Like() []string { return strings.Fields(strings.ToLower(o.IDLike)) }

func (o OSRelease) likes(word string) bool {
	for _, w := range o.Like() {
		if w == word {
			return true
		}
	}
	return false
}

func (o OSRelease) id() string { return strings.ToLower(o.ID) }

// ParseOSRelease reads os-release text the way a POSIX shell would read
// its assignments, unlike the original: values may be double-quoted
// (backslash escapes \" \\ \$ \` inside), single-quoted (literal), or
// bare (backslash escapes the next character); a value may contain '=';
// blank lines and lines starting with '#' are ignored. Lines that are not
// NAME=value assignments are skipped.
func ParseOSRelease(text string) OSRelease {
	o := OSRelease{Fields: map[string]string{}}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok || !validKey(key) {
			log.Debugf("os-release: skipping line %q", line)
			continue
		}
		o.Fields[key] = unquoteShell(raw)
	}
	o.ID = o.Fields["ID"]
	o.IDLike = o.Fields["ID_LIKE"]
	o.VersionID = o.Fields["VERSION_ID"]
	o.Name = o.Fields["NAME"]
	o.PrettyName = o.Fields["PRETTY_NAME"]
	o.Version = o.Fields["VERSION"]
	o.VariantID = o.Fields["VARIANT_ID"]
	return o
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// unquoteShell removes shell quoting from one value. Quoted and bare
// parts may be concatenated ("a"'b'c). An unterminated quote runs to the
// end of the line. Trailing unquoted blanks are dropped.
func unquoteShell(s string) string {
	var b strings.Builder
	trailing := 0 // unquoted blanks at the end of b
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
			trailing = 0
		case '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
			trailing = 0
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
			trailing = 0
		case ' ', '\t':
			b.WriteByte(c)
			trailing++
		default:
			b.WriteByte(c)
			trailing = 0
		}
	}
	out := b.String()
	return out[:len(out)-trailing]
}
