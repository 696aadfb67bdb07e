package recipe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors that a FieldError's Err wraps, for callers that branch on
// the kind of problem with errors.Is.
var (
	// ErrSyntax marks a file that is not well-formed YAML.
	ErrSyntax = errors.New("yaml syntax error")

	// ErrUnknownKey marks a key that no field of the recipe or config
	// has. Keys that start with "x-" are never unknown.
	ErrUnknownKey = errors.New("unknown key")

	// ErrDuplicateKey marks a key given twice in one mapping.
	ErrDuplicateKey = errors.New("duplicate key")

	// ErrType marks a value of the wrong kind: a list where a string is
	// meant, a number where a walltime is meant, and the like.
	ErrType = errors.New("wrong type")

	// ErrInvalid marks a value of the right kind that is out of range or
	// malformed: a port above 65535, a walltime SLURM does not accept.
	ErrInvalid = errors.New("invalid value")

	// ErrMissing marks a required field that is absent.
	ErrMissing = errors.New("missing value")
)

// FieldError describes one problem at one place in a recipe or config
// file. Load, Decode, Validate and their config counterparts report every
// problem they find, each as a *FieldError, joined with errors.Join; use
// FieldErrors to get them back as a slice.
type FieldError struct {
	// File is the name given to Decode or the path given to Load; empty
	// for a Recipe built in code.
	File string

	// Line and Column locate the offending key or value, counting from
	// 1. Both are 0 when the position is unknown, as for a Recipe built
	// in code.
	Line, Column int

	// Path is the dotted path of the field, such as
	// "service.resources.time" or "service.ports[1]". It is empty for
	// syntax errors that concern the file as a whole.
	Path string

	// Err says what is wrong. It wraps one of ErrSyntax, ErrUnknownKey,
	// ErrDuplicateKey, ErrType, ErrInvalid or ErrMissing.
	Err error
}

// Error formats e as "recipe: file:line:col: path: message", leaving out
// the parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("recipe: ")

	loc := e.File
	if e.Line > 0 {
		if loc != "" {
			loc += ":"
		}
		loc += strconv.Itoa(e.Line)
		if e.Column > 0 {
			loc += ":" + strconv.Itoa(e.Column)
		}
	}
	if loc != "" {
		b.WriteString(loc + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns e.Err.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors returns every *FieldError in the tree of err, in order,
// looking through errors.Join and %w wrapping. It returns nil when err holds
// none.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		switch x := err.(type) {
		case nil:
		case *FieldError:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}

// kindError is an error message that wraps one of the sentinel kinds
// without repeating the sentinel's text.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// errorf returns an error with the formatted message that wraps kind.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
