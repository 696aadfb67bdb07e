package sshx

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// printfViaBash runs `printf %s WORD` in bash and returns what it printed.
func printfViaBash(t testing.TB, word string) string {
	t.Helper()
	out, err := exec.Command("bash", "-c", "printf %s "+word).Output()
	require.NoError(t, err, "word %q", word)
	return string(out)
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"plain-word_1.2:3@x%y+z,w/v=u", "plain-word_1.2:3@x%y+z,w/v=u"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$HOME", "'$HOME'"},
		{"~/x", "'~/x'"},
		{"=ls", "'=ls'"},
		{"a\nb", "'a\nb'"},
		{"*", "'*'"},
		{"é", "'é'"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Quote(tt.in), "Quote(%q)", tt.in)
		require.Equal(t, tt.in, printfViaBash(t, Quote(tt.in)), "round trip of %q", tt.in)
	}
}

func TestQuoteAll(t *testing.T) {
	args := []string{"a b", "", "c'd", "$(touch /tmp/pwned)", "-n"}
	out, err := exec.Command("bash", "-c", "printf '<%s>' "+QuoteAll(args...)).Output()
	require.NoError(t, err)
	require.Equal(t, "<a b><><c'd><$(touch /tmp/pwned)><-n>", string(out))
}

// FuzzQuote checks that bash reads Quote(s) back as exactly s, for any s
// without NUL (which no shell word can hold).
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", "a b", "'", "''", `\`, "$x", "`id`", "$(id)", "\n",
		"!", "~", "=x", "a=b", "-e", "*?[a]", "{a,b}", "\xff\xfe", "é", "%s", "\t\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			t.Skip("NUL cannot be passed to a shell")
		}
		q := Quote(s)
		require.Equal(t, s, printfViaBash(t, q), "Quote(%q) = %s", s, q)
	})
}
