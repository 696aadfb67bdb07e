package servers

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShellWord(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "serve", "serve"},
		{"empty", "", "''"},
		{"space", "a b", "'a b'"},
		{"home var", "$HOME/data", `"${HOME}"/data`},
		{"braced var", "0.0.0.0:${HPCORCH_PORT}", `0.0.0.0:"${HPCORCH_PORT}"`},
		{"tilde", "~/models", `"${HOME}"/models`},
		{"tilde alone", "~", `"${HOME}"`},
		{"tilde inside", "a~b", "'a~b'"},
		{"quote", "it's", `'it'\''s'`},
		{"lone dollar", "cost: 5$", "'cost: 5$'"},
		{"dollar digit", "$1", "'$1'"},
		{"semicolon", "a; rm -rf /", "'a; rm -rf /'"},
		{"two vars", "$A$B", `"${A}""${B}"`},
		{"unclosed brace", "${A", "'${A'"},
		{"brace op", "${A:-x}", "'${A:-x}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := shellWord(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	for _, bad := range []string{"$(id)", "`id`", "a$(b)c"} {
		_, err := shellWord(bad)
		require.Error(t, err, bad)
	}
}

func TestMentions(t *testing.T) {
	require.True(t, mentions("HPCORCH_PORT", "-p", "${HPCORCH_PORT}"))
	require.True(t, mentions("HPCORCH_PORT", "0.0.0.0:$HPCORCH_PORT"))
	require.False(t, mentions("HPCORCH_PORT", "$HPCORCH_PORT_1"))
	require.True(t, mentions("HPCORCH_PORT_1", "$HPCORCH_PORT_1"))
	require.False(t, mentions("HPCORCH_PORT", "HPCORCH_PORT"))
}

// expand is what the job's shell must make of a value: variables replaced
// by env's values (unknown ones by ""), a leading ~ by $HOME, nothing else
// touched.
func expand(v string, env map[string]string) string {
	var b strings.Builder
	if v == "~" || strings.HasPrefix(v, "~/") {
		b.WriteString(env["HOME"])
		v = v[1:]
	}
	for len(v) > 0 {
		if name, n := varAt(v); n > 0 {
			b.WriteString(env[name])
			v = v[n:]
			continue
		}
		b.WriteByte(v[0])
		v = v[1:]
	}
	return b.String()
}

// FuzzShellWord checks with bash that a quoted value comes out as one
// word, expanded exactly as documented and in no other way.
func FuzzShellWord(f *testing.F) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		f.Skip("bash not found")
	}
	for _, s := range []string{"", "a b", "$HOME/x", "~/y", "${V}z", "'\"\\", "*", "$1$",
		"a\nb", "!x", "${V", "$V$W", "--flag=$V,2", "~user", "\t"} {
		f.Add(s)
	}
	env := map[string]string{"HOME": "/home/u", "V": "v a l", "W": "*"}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsRune(v, 0) || !utf8Valid(v) {
			return
		}
		w, err := shellWord(v)
		if strings.Contains(v, "$(") || strings.Contains(v, "`") {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)

		cmd := exec.Command(bash, "-c", `printf '%s\0' `+w)
		cmd.Env = []string{"HOME=/home/u", "V=v a l", "W=*", "PATH=" + os.Getenv("PATH")}
		cmd.Dir = t.TempDir()
		out, err := cmd.Output()
		require.NoError(t, err, "word %s", w)
		require.Equal(t, expand(v, env)+"\x00", string(out), "word %s", w)
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }
