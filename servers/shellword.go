package servers

import (
	"fmt"
	"strings"

	"github.com/hpcorch/hpcorch/sshx"
)

// shellWord turns a recipe value into one shell word for the job script.
// The variables it names ($NAME and ${NAME}) and a leading ~ are left for
// the job's shell, in double quotes so that their values stay one word;
// everything else is quoted with sshx.Quote, so the shell sees it exactly.
// Command substitution is refused: a recipe describes values, not code.
func shellWord(v string) (string, error) {
	if strings.Contains(v, "$(") || strings.Contains(v, "`") {
		return "", fmt.Errorf("servers: %q: command substitution is not allowed", v)
	}

	var b strings.Builder
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			b.WriteString(sshx.Quote(lit.String()))
			lit.Reset()
		}
	}

	rest := v
	if rest == "~" || strings.HasPrefix(rest, "~/") {
		b.WriteString(`"${HOME}"`)
		rest = rest[1:]
	}
	for len(rest) > 0 {
		name, n := varAt(rest)
		if n == 0 {
			lit.WriteByte(rest[0])
			rest = rest[1:]
			continue
		}
		flush()
		b.WriteString(`"${` + name + `}"`)
		rest = rest[n:]
	}
	flush()

	if b.Len() == 0 {
		return "''", nil
	}
	return b.String(), nil
}

// shellWords converts each value with shellWord and joins them with
// spaces.
func shellWords(vs []string) (string, error) {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		w, err := shellWord(v)
		if err != nil {
			return "", err
		}
		out = append(out, w)
	}
	return strings.Join(out, " "), nil
}

// varAt reports the variable that s starts with, as "$NAME" or "${NAME}":
// its name and the length of its reference, or 0 when s starts with none.
func varAt(s string) (string, int) {
	if len(s) < 2 || s[0] != '$' {
		return "", 0
	}
	if s[1] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 0 || !isName(s[2:end]) {
			return "", 0
		}
		return s[2:end], end + 1
	}
	n := 1
	for n < len(s) && isNameByte(s[n], n == 1) {
		n++
	}
	if n == 1 {
		return "", 0
	}
	return s[1:n], n
}

// isName reports whether s is a shell variable name.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i], i == 0) {
			return false
		}
	}
	return true
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

// mentions reports whether any of vs refers to the variable name.
func mentions(name string, vs ...string) bool {
	for _, v := range vs {
		for i := 0; i < len(v); i++ {
			if got, n := varAt(v[i:]); n > 0 && got == name {
				return true
			}
		}
	}
	return false
}
