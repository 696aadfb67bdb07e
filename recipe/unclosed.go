package recipe

import (
	"regexp"
	"strings"
)

// blockScalarRe matches a line whose value starts a block scalar (| or >),
// whose following, more indented lines are text rather than YAML syntax.
var blockScalarRe = regexp.MustCompile(`(?:^|[\s:-])[|>][-+0-9]*\s*(?:#.*)?$`)

// opening is where a quote or flow collection starts: 1-based line and
// column, and its character.
type opening struct {
	line, col int
	c         byte
}

// unclosed finds the first quote or flow bracket ([ or {) of a YAML
// document that is never closed, as yaml.v3's "did not find expected ','
// or ']'" and "found unexpected end of stream" errors mean, whose line
// numbers name a neighbouring line rather than the opening one. It knows
// enough YAML for that: quotes and brackets count only where a token
// starts, comments and block scalars are skipped. When both a quote and a
// bracket are left open, preferQuote picks the quote (the stream ended in
// it) over the outermost bracket. ok is false when it finds none.
func unclosed(data string, preferQuote bool) (o opening, ok bool) {
	var stack []opening // open brackets, outermost first
	var quote *opening  // the open quote, if any
	block := -1         // indent of a block scalar's key line, or -1

	for n, line := range strings.Split(data, "\n") {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if block >= 0 && quote == nil && len(stack) == 0 {
			if strings.TrimSpace(line) == "" || indent > block {
				continue
			}
			block = -1
		}

		tokenStart := true // at the start of a line, a token may start
		for i := 0; i < len(line); i++ {
			c := line[i]
			if quote != nil {
				switch {
				case quote.c == '\'' && c == '\'' && i+1 < len(line) && line[i+1] == '\'':
					i++ // '' is a quote inside single quotes
				case quote.c == '"' && c == '\\':
					i++
				case c == quote.c:
					quote, tokenStart = nil, false
				}
				continue
			}
			switch {
			case c == ' ' || c == '\t':
				continue
			case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				i = len(line)
				continue
			case (c == '\'' || c == '"') && tokenStart:
				quote = &opening{line: n + 1, col: i + 1, c: c}
				continue
			case (c == '[' || c == '{') && tokenStart:
				stack = append(stack, opening{line: n + 1, col: i + 1, c: c})
				continue
			case (c == ']' || c == '}') && len(stack) > 0:
				stack = stack[:len(stack)-1]
				tokenStart = false
				continue
			}
			tokenStart = startsToken(line, i, len(stack) > 0)
		}

		if quote == nil && len(stack) == 0 && blockScalarRe.MatchString(line) {
			block = indent
		}
	}

	switch {
	case quote != nil && (preferQuote || len(stack) == 0):
		return *quote, true
	case len(stack) > 0:
		return stack[0], true
	}
	return opening{}, false
}

// startsToken reports whether, after the character at i, a token may start:
// after "- " or ": " in block context, and after ",", "[", "{" or ":" in a
// flow collection.
func startsToken(line string, i int, flow bool) bool {
	c := line[i]
	next := i+1 >= len(line) || line[i+1] == ' ' || line[i+1] == '\t'
	switch {
	case c == '-' && next && strings.TrimLeft(line[:i], " -") == "":
		return true
	case c == ':' && (next || flow):
		return true
	case flow && c == ',':
		return true
	}
	return false
}
