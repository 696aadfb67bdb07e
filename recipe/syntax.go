package recipe

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// quoteHint is the advice for values that YAML cannot start a token with.
const quoteHint = "quote values starting with %, @, ` or *"

var (
	yamlErrRe = regexp.MustCompile(`^yaml: (?:line ([0-9]+): )?(.*)$`)
	anchorRe  = regexp.MustCompile(`unknown anchor '([^']*)' referenced`)
)

// syntaxError turns a yaml.v3 parse error into a *FieldError with a line,
// a column where it can find one, and a hint for the common causes: an
// unquoted value starting with a YAML indicator (%x-%j.out, @file, `cmd`,
// *glob), a tab in the indentation, and ": " inside an unquoted value.
func syntaxError(err error, data []byte, name string) error {
	msg := err.Error()
	line, text := 0, strings.TrimPrefix(msg, "yaml: ")
	if m := yamlErrRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		text = m[2]
	}
	lines := bytes.Split(data, []byte("\n"))
	src := func(l int) string {
		if l < 1 || l > len(lines) {
			return ""
		}
		return string(lines[l-1])
	}

	col, hint := 0, ""
	switch {
	case strings.Contains(text, "cannot start any token"):
		if line == 0 {
			line = 1 // yaml.v3 leaves out "line 1"
		}
		var c byte
		col, c = badStart(src(line), "%@`")
		switch c {
		case '\t':
			hint = "indent with spaces; YAML does not allow tabs"
		case 0:
		default:
			hint = quoteHint
		}
	case anchorRe.MatchString(text):
		ref := "*" + anchorRe.FindStringSubmatch(text)[1]
		for i := range lines {
			if c := bytes.Index(lines[i], []byte(ref)); c >= 0 {
				line, col = i+1, c+1
				break
			}
		}
		hint = quoteHint + " (a value starting with * refers to an anchor)"
	case strings.Contains(text, "did not find expected alphabetic or numeric character"):
		// An alias or anchor whose name is not a word, such as *.txt.
		col, _ = badStart(src(line), "*&")
		hint = quoteHint
	case strings.Contains(text, "mapping values are not allowed"):
		if line == 0 {
			line = 1
		}
		hint = `quote values that contain ": "`
	case strings.Contains(text, "found unexpected end of stream"),
		strings.Contains(text, "did not find expected"):
		// yaml.v3 names the line before an unclosed bracket, or where the
		// document ended: point at the opening quote or bracket itself.
		eos := strings.Contains(text, "end of stream")
		if o, ok := unclosed(string(data), eos); ok {
			line, col = o.line, o.col
			what := "bracket " + string(o.c)
			if o.c == '\'' || o.c == '"' {
				what = "quote " + string(o.c)
			}
			hint = "unclosed " + what + ": it opens here and is never closed"
			break
		}
		hint = "check for an unclosed quote or bracket on or before this line"
	}

	if hint != "" {
		text += "; " + hint
	}
	return &FieldError{File: name, Line: line, Column: col, Err: errorf(ErrSyntax, "%s", text)}
}

// badStart finds, in one line of YAML, the first character that cannot
// start a token where a token starts: a tab in the indentation, or one of
// chars after "key: ", "- ", "[", "{" or ",". It returns the 1-based column
// and the character, or 0, 0.
func badStart(line, chars string) (int, byte) {
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\t' && strings.TrimLeft(line[:i], " -") == "" {
			return i + 1, c
		}
		if strings.IndexByte(chars, c) < 0 {
			continue
		}
		prev := strings.TrimRight(line[:i], " \t")
		if prev == "" || strings.HasSuffix(prev, ":") || strings.HasSuffix(prev, "-") ||
			strings.HasSuffix(prev, "[") || strings.HasSuffix(prev, "{") ||
			strings.HasSuffix(prev, ",") {
			return i + 1, c
		}
	}
	return 0, 0
}
