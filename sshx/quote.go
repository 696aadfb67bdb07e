package sshx

import "strings"

// Quote returns s quoted for a POSIX shell, so that the shell reads it as
// exactly one word with no expansion. Every value that hpcorch passes to a
// remote shell goes through Quote.
//
// Words made only of letters, digits and -_./:=@%+, are returned as they
// are, except a leading "=" (zsh expands "=cmd" to a path). Anything else
// is single-quoted. s must not contain NUL, which no shell word can hold.
// A word of the form NAME=value placed first on a command line is still
// an assignment: Quote protects arguments, not the command position.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) && s[0] != '=' {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteAll quotes each argument and joins them with spaces.
func QuoteAll(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

func isSafe(s string) bool {
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("-_./:=@%+,", c):
		default:
			return false
		}
	}
	return true
}
