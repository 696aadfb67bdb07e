package recipe

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		line, col int
		want      string
	}{{
		name: "percent on line 1", doc: "output: %x-%j.out\n", line: 1, col: 9,
		want: "found character that cannot start any token; " + quoteHint,
	}, {
		name: "percent deeper",
		doc:  "service:\n  name: x\n  args:\n    - --log\n    - %x-%j.out\n",
		line: 5, col: 7, want: quoteHint,
	}, {
		name: "at sign", doc: "service:\n  name: x\n  command: @cmd\n", line: 3, col: 12,
		want: quoteHint,
	}, {
		name: "backquote", doc: "service:\n  name: x\n  command: `id`\n", line: 3, col: 12,
		want: quoteHint,
	}, {
		name: "star", doc: "service:\n  name: x\n  args: [*.txt]\n", line: 3, col: 10,
		want: quoteHint,
	}, {
		name: "unknown anchor", doc: "service:\n  name: x\n  args: [*foo]\n", line: 3,
		col: 10, want: "unknown anchor 'foo' referenced; " + quoteHint,
	}, {
		name: "tab", doc: "service:\n\tname: x\n", line: 2, col: 1,
		want: "indent with spaces",
	}, {
		name: "colon in value", doc: "service:\n  name: a: b\n", line: 2,
		want: `quote values that contain ": "`,
	}, {
		name: "unclosed quote", doc: "service:\n  name: 'x\n  command: y\n",
		line: 2, col: 9, want: "unclosed quote ': it opens here",
	}, {
		// The user's report: yaml.v3 says line 3 for a [ on line 4.
		name: "unclosed bracket", doc: "service:\n  name: q2\n  command: x\n" +
			"  args: [a, b\n  ports: [1]\n",
		line: 4, col: 9, want: "unclosed bracket [: it opens here and is never closed",
	}, {
		name: "unclosed bracket last", doc: "service:\n  name: q2\n  args: [a, b\n",
		line: 3, col: 9, want: "unclosed bracket [",
	}, {
		name: "unclosed bracket blank lines", doc: "service:\n  name: q2\n  command: x\n" +
			"  args: [a, b\n\n\n  ports: [1]\n",
		line: 4, col: 9, want: "unclosed bracket [",
	}, {
		name: "unclosed brace", doc: "service:\n  environment: {A: '1', B: \"[2\"\n" +
			"  command: x\n",
		line: 2, col: 16, want: "unclosed bracket {",
	}, {
		name: "unclosed brace line 1", doc: "service: {name: x\n", line: 1, col: 10,
		want: "unclosed bracket {",
	}, {
		name: "unclosed in list item", doc: "service:\n  args:\n    - [a, b\n    - c\n" +
			"  command: x\n",
		line: 3, col: 7, want: "unclosed bracket [",
	}, {
		name: "nested", doc: "service:\n  args: [a, [b, c]\n  command: x\n",
		line: 2, col: 9, want: "unclosed bracket [",
	}, {
		name: "quote inside brackets", doc: "service:\n  name: x\n  args: [\"a, b]\n" +
			"  command: y\n",
		line: 3, col: 10, want: "unclosed quote \"",
	}, {
		name: "after comments and text", doc: "# a [comment\nservice:\n" +
			"  description: it's [plain\n  command: |\n    echo [ {\n" +
			"  name: x\n  args: ['a', \"b\", [c]\n",
		line: 7, col: 9, want: "unclosed bracket [",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.doc), "s.yaml")
			fe := one(t, err)
			require.ErrorIs(t, fe, ErrSyntax)
			require.Contains(t, fe.Error(), tc.want)
			if tc.line != 0 {
				require.Equal(t, tc.line, fe.Line, "error: %v", fe)
			}
			if tc.col != 0 {
				require.Equal(t, tc.col, fe.Column, "error: %v", fe)
			}
			require.Empty(t, fe.Path)
		})
	}
}

// Quoting, as the hints say, fixes each of them.
func TestSyntaxQuoted(t *testing.T) {
	r, err := Decode(strings.NewReader(`service:
  name: x
  command: '@cmd'
  args: ['%x-%j.out', "*.txt", '`+"`id`"+`']
`), "q.yaml")
	require.Error(t, err, "command substitution is still refused")
	require.Nil(t, r)
	fe := one(t, err)
	require.Equal(t, "service.args[2]", fe.Path)

	r, err = Decode(strings.NewReader("service:\n  name: x\n  command: '@cmd'\n"+
		"  args: ['%x-%j.out', \"*.txt\"]\n"), "q.yaml")
	require.NoError(t, err)
	require.Equal(t, []string{"%x-%j.out", "*.txt"}, r.Service.Args)
}

func TestDocumentShape(t *testing.T) {
	tests := map[string]struct {
		doc  string
		kind error
		want string
	}{
		"empty":        {"", ErrMissing, "the file is empty"},
		"comment only": {"# nothing\n", ErrMissing, "the file is empty"},
		"null doc":     {"---\n", ErrMissing, "the file is empty"},
		"two docs": {"service: {name: a}\n---\nservice: {name: b}\n", ErrSyntax,
			"more than one YAML document"},
		"list":         {"- a\n- b\n", ErrType, "expected a mapping"},
		"service list": {"service:\n  - name: a\n", ErrType, "expected a mapping"},
		"service null": {"service:\n", ErrMissing, "a service needs a name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.doc), "d.yaml")
			fe := one(t, err)
			require.ErrorIs(t, fe, tc.kind)
			require.Contains(t, fe.Error(), tc.want)
		})
	}
}

func TestBadStart(t *testing.T) {
	tests := map[string]struct {
		col int
		c   byte
	}{
		"a: %x":         {4, '%'},
		"- @x":          {3, '@'},
		"a: [b, `c`]":   {8, '`'},
		"a: 'x%' # %":   {0, 0},
		"\tkey: v":      {1, '\t'},
		"  - \tx: v":    {5, '\t'},
		"a: b%c":        {0, 0},
		"a: {k: @v}":    {8, '@'},
		"plain line":    {0, 0},
		"mail: a@b.org": {0, 0},
	}
	for line, want := range tests {
		col, c := badStart(line, "%@`")
		require.Equal(t, want.col, col, line)
		require.Equal(t, want.c, c, line)
	}
}
