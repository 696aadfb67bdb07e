package recipe

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Limits that keep a hostile file from exhausting memory.
const (
	maxFileSize = 1 << 20 // bytes
	maxNodes    = 100_000 // YAML nodes visited, aliases counted each time
)

// Load reads, decodes and validates the recipe file at path. See Decode.
func Load(path string) (*Recipe, error) {
	f, err := openFile(path, "recipe")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Decode(f, path)
}

// openFile opens the file at path to decode, refusing a folder with words
// that say what file was wanted.
func openFile(path, what string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("recipe: %s is a folder, not a %s file", path, what)
	}
	return f, nil
}

// Decode reads one recipe from r, decodes it strictly and validates it;
// name is used in error messages, usually the file's path.
//
// Decoding is stricter than yaml.v3's: unknown keys (with a suggestion),
// duplicate keys, values of the wrong kind and YAML 1.1 traps (numbers as
// walltimes, octal-looking numbers, yes/no where text is meant) are errors.
// Keys that start with "x-" are ignored anywhere, for users' own notes.
//
// Decode reports every problem it finds, each as a *FieldError with its
// position, joined with errors.Join, in the order they appear in the file;
// it returns a nil Recipe with them.
func Decode(r io.Reader, name string) (*Recipe, error) {
	rec := &Recipe{}
	d, err := decodeFile(r, name, rec)
	if err != nil {
		return nil, err
	}
	rec.file, rec.pos = name, d.pos

	if _, ok := d.pos["service"]; !ok && !d.bad[""] {
		d.errs = append(d.errs, &FieldError{File: name, Line: 1, Column: 1, Path: "service",
			Err: errorf(ErrMissing, "the recipe has no service: key at the top")})
		d.bad["service"] = true
	}
	v := newValidator(name, d.pos, d.bad)
	rec.validate(v)
	return nil2(rec, joinSorted(append(d.errs, v.errs...)))
}

// nil2 returns (nil, err) when err is not nil, and (v, nil) otherwise.
func nil2[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// decodeFile parses r and decodes its one document into out, a pointer to
// a struct. A file that cannot be parsed at all gives a non-nil error;
// problems with its content are left in the decoder's errs.
func decodeFile(r io.Reader, name string, out any) (*decoder, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("recipe: read %s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, &FieldError{File: name, Err: errorf(ErrInvalid,
			"the file is larger than %d bytes", maxFileSize)}
	}

	root, err := parse(data, name)
	if err != nil {
		return nil, err
	}
	v := reflect.ValueOf(out).Elem()
	d := &decoder{
		file:  name,
		pos:   map[string]position{},
		bad:   map[string]bool{},
		index: fieldIndex(v.Type()),
		seen:  map[*yaml.Node]bool{},
	}
	d.value(root, "", v, fieldOpts{})
	return d, nil
}

// errEmpty is the error of a file with no YAML document, or an empty one.
var errEmpty = errorf(ErrMissing, "the file is empty")

// parse parses data into the root node of its single document.
func parse(data []byte, name string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &FieldError{File: name, Err: errEmpty}
		}
		return nil, syntaxError(err, data, name)
	}

	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &FieldError{File: name, Line: extra.Line, Column: extra.Column,
			Err: errorf(ErrSyntax, "the file holds more than one YAML document; "+
				"keep one recipe per file")}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err, data, name)
	}

	if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
		return nil, &FieldError{File: name, Err: errEmpty}
	}
	return doc.Content[0], nil
}

// position is where a value starts in its file.
type position struct{ line, col int }

// fieldOpts are the options of a struct field's `recipe:"..."` tag.
type fieldOpts struct {
	// literal keeps any scalar's text as written, with no YAML 1.1
	// boolean check: for free text and for words passed to programs.
	literal bool
}

// decoder walks a yaml.Node tree into Go values, collecting every problem.
type decoder struct {
	file  string
	errs  []error
	pos   map[string]position // value positions by path
	bad   map[string]bool     // paths that already have an error
	index map[string][]string // normalised key -> struct paths that have it
	seen  map[*yaml.Node]bool // key nodes reported as duplicates
	nodes int
}

// fail records an error at node n for path.
func (d *decoder) fail(n *yaml.Node, path string, err error) {
	d.bad[path] = true
	d.errs = append(d.errs, &FieldError{File: d.file, Line: n.Line, Column: n.Column,
		Path: path, Err: err})
}

// count counts one more node visited and reports whether the walk may go
// on. Aliases make a small file name many nodes, so each visit counts.
func (d *decoder) count(n *yaml.Node, path string) bool {
	d.nodes++
	if d.nodes == maxNodes+1 {
		d.fail(n, path, errorf(ErrInvalid, "the file has too many values "+
			"(more than %d, counting each use of an alias)", maxNodes))
	}
	return d.nodes <= maxNodes
}

var durationType = reflect.TypeFor[time.Duration]()
var walltimeType = reflect.TypeFor[Walltime]()

// value decodes n into v, which is addressable.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value, o fieldOpts) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if !d.count(n, path) {
		return
	}
	d.pos[path] = position{n.Line, n.Column}

	if v.Type() == durationType {
		d.duration(n, path, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, path, v.Elem(), o)
	case reflect.Struct:
		d.structure(n, path, v)
	case reflect.Slice:
		d.sequence(n, path, v, o)
	case reflect.Map:
		d.stringMap(n, path, v)
	case reflect.String:
		d.str(n, path, v, o)
	case reflect.Int:
		d.integer(n, path, v)
	case reflect.Bool:
		d.boolean(n, path, v)
	default:
		panic(fmt.Sprintf("recipe: no decoder for %s", v.Type()))
	}
}

// structure decodes a mapping into a struct, field by field.
func (d *decoder) structure(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, errorf(ErrType, "expected a mapping of keys to values, got %s",
			kindName(n)))
		return
	}

	fields := structFields(v.Type())
	for _, e := range d.entries(n, path) {
		key := e.key.Value
		if strings.HasPrefix(key, "x-") {
			continue
		}
		f, ok := fields.byKey[key]
		if !ok {
			d.unknownKey(e.key, path, fields.keys)
			continue
		}
		p := join(path, key)
		d.value(e.val, p, v.Field(f.index), f.opts)
		if _, ok := d.pos[p]; ok && e.val.Kind != yaml.ScalarNode {
			// A mapping or list is best pointed at by its key's line.
			d.pos[p] = position{e.key.Line, e.key.Column}
		}
	}
}

// entry is one key and its value in a mapping.
type entry struct{ key, val *yaml.Node }

// entries returns the key/value pairs of mapping n, with merged mappings
// ("<<: *anchor") first overridden by explicit keys. A key given twice is
// reported once and its first value kept.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	var out, merged []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.count(k, path) {
			return nil
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.merge(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, errorf(ErrType, "a key must be a plain word, got %s",
				kindName(k)))
			continue
		}
		if prev, ok := seen[k.Value]; ok {
			if !d.seen[k] {
				d.seen[k] = true
				d.fail(k, join(path, k.Value), errorf(ErrDuplicateKey,
					"key %q is already given at line %d", k.Value, prev.Line))
			}
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{k, val})
	}

	for _, m := range merged {
		if _, ok := seen[m.key.Value]; !ok {
			seen[m.key.Value] = m.key
			out = append(out, m)
		}
	}
	return out
}

// merge returns the entries a "<<" key brings in: one mapping or a list of
// them.
func (d *decoder) merge(n *yaml.Node, path string) []entry {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.entries(n, path)
	case yaml.SequenceNode:
		var out []entry
		for _, m := range n.Content {
			out = append(out, d.merge(m, path)...)
		}
		return out
	}
	d.fail(n, path, errorf(ErrType, "<< must merge a mapping, got %s", kindName(n)))
	return nil
}

// unknownKey reports key k, unknown in the struct at path, with the best
// suggestion it can make.
func (d *decoder) unknownKey(k *yaml.Node, path string, keys []string) {
	key := k.Value
	var msg string
	if s := exactMatch(key, keys); s != "" {
		msg = fmt.Sprintf("unknown key %q; did you mean %q?", key, s)
	} else if where := d.belongs(key, path); where != "" {
		msg = fmt.Sprintf("unknown key %q here; it belongs under %s", key, where)
	} else if s := nearest(key, keys); s != "" {
		msg = fmt.Sprintf("unknown key %q; did you mean %q?", key, s)
	} else {
		msg = fmt.Sprintf("unknown key %q; the keys here are %s (prefix your own "+
			"keys with x-)", key, strings.Join(keys, ", "))
	}
	d.fail(k, join(path, key), errorf(ErrUnknownKey, "%s", msg))
}

// belongs returns where else in the schema key is a field, such as
// "service.resources", or "".
func (d *decoder) belongs(key, path string) string {
	here := indexPath(path)
	var where []string
	for _, p := range d.index[normKey(key)] {
		if p != here {
			if p == "" {
				p = "the top level"
			}
			where = append(where, p)
		}
	}
	if len(where) > 3 {
		where = where[:3]
	}
	return strings.Join(where, " or ")
}

var indexRe = regexp.MustCompile(`\[[0-9]+\]`)

// indexPath turns a value path into the form fieldIndex uses for lists.
func indexPath(path string) string { return indexRe.ReplaceAllString(path, "[]") }

// sequence decodes a list into a slice.
func (d *decoder) sequence(n *yaml.Node, path string, v reflect.Value, o fieldOpts) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf("; write [%s] for a list of one", n.Value)
		}
		d.fail(n, path, errorf(ErrType, "expected a list, got %s%s", kindName(n), hint))
		return
	}

	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, path+"["+strconv.Itoa(i)+"]", s.Index(i), o)
	}
	v.Set(s)
}

// stringMap decodes a mapping into a map[string]string, keeping every
// scalar value's text exactly as written.
func (d *decoder) stringMap(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, errorf(ErrType, "expected a mapping of names to values, got %s",
			kindName(n)))
		return
	}

	m := reflect.MakeMap(v.Type())
	for _, e := range d.entries(n, path) {
		p := join(path, e.key.Value)
		val := e.val
		for val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		d.pos[p] = position{e.key.Line, e.key.Column}
		if val.Kind != yaml.ScalarNode {
			d.fail(val, p, errorf(ErrType, "expected a single value, got %s", kindName(val)))
			continue
		}
		text := val.Value
		if isNull(val) {
			text = ""
		}
		m.SetMapIndex(reflect.ValueOf(e.key.Value), reflect.ValueOf(text).Convert(v.Type().Elem()))
	}
	v.Set(m)
}

var (
	// yaml11Bools are the plain words YAML 1.1 reads as booleans and
	// yaml.v3 reads as strings (true and false are booleans in both).
	yaml11Bools = regexp.MustCompile(`^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$`)
	// clockRe matches a walltime of the form MM:SS.
	clockRe = regexp.MustCompile(`^[0-9]+:[0-9]{1,2}$`)
	// decimalRe matches a plain decimal number with no leading zero.
	decimalRe = regexp.MustCompile(`^[-+]?(0|[1-9][0-9]*)$`)
	// leadingZeroRe matches a number with leading zeros, such as 08080.
	leadingZeroRe = regexp.MustCompile(`^[-+]?0[0-9_]+$`)
)

// str decodes a scalar into a string, refusing YAML 1.1 booleans unless
// the field keeps literal text.
func (d *decoder) str(n *yaml.Node, path string, v reflect.Value, o fieldOpts) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, errorf(ErrType, "expected a string, got %s", kindName(n)))
		return
	}
	if isNull(n) {
		v.SetString("")
		return
	}

	plain := n.Style&(yaml.TaggedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|
		yaml.LiteralStyle|yaml.FoldedStyle) == 0
	if plain && !o.literal && (n.Tag == "!!bool" || yaml11Bools.MatchString(n.Value)) {
		d.fail(n, path, errorf(ErrType, "%s is a boolean to YAML 1.1 tools, not text; "+
			"quote it if you mean the word: '%s'", n.Value, n.Value))
		return
	}
	if plain && v.Type() == walltimeType {
		if err := walltimeTrap(n); err != nil {
			d.fail(n, path, err)
			return
		}
	}
	v.SetString(n.Value)
}

// walltimeTrap reports a walltime written as a number or as an unquoted
// MM:SS, which YAML 1.1 reads as a sexagesimal number.
func walltimeTrap(n *yaml.Node) error {
	switch {
	case n.Tag == "!!int" && decimalRe.MatchString(n.Value):
		mins, _ := strconv.ParseInt(n.Value, 10, 64)
		return errorf(ErrType, "walltime %s is a number, which SLURM reads as %d minutes "+
			"(%v); write a quoted string such as \"01:00:00\" (HH:MM:SS) or "+
			"\"1-00:00:00\" (D-HH:MM:SS), or \"%s\" if you do mean minutes",
			n.Value, mins, time.Duration(mins)*time.Minute, n.Value)
	case n.Tag == "!!int" || n.Tag == "!!float":
		return errorf(ErrType, "walltime %s is a number, not a time; write a quoted "+
			"string such as \"01:00:00\" (HH:MM:SS)", n.Value)
	case clockRe.MatchString(n.Value):
		return errorf(ErrType, "walltime %s without quotes is a sexagesimal number to "+
			"YAML 1.1 tools, and SLURM reads it as MM:SS (minutes and seconds); write "+
			"\"%s:00\" for hours and minutes, or quote \"%s\" to keep minutes and seconds",
			n.Value, n.Value, n.Value)
	}
	return nil
}

// integer decodes a plain decimal number into an int field.
func (d *decoder) integer(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, errorf(ErrType, "expected a whole number, got %s", kindName(n)))
		return
	}
	if isNull(n) {
		v.SetInt(0)
		return
	}

	text := strings.TrimSpace(n.Value)
	quoted := n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0
	switch {
	case quoted && isDigits(text):
		text = strings.TrimLeft(text, "0")
		if text == "" {
			text = "0"
		}
	case quoted:
		d.fail(n, path, errorf(ErrType, "expected a whole number, got the string %q", text))
		return
	case leadingZeroRe.MatchString(text):
		d.fail(n, path, errorf(ErrType, "%s has a leading zero, which YAML 1.1 (and "+
			"yaml.v3) reads as an octal number; write %s", text, trimZeros(text)))
		return
	case n.Tag != "!!int" && n.Tag != "!!float":
		d.fail(n, path, errorf(ErrType, "expected a whole number, got %s", kindName(n)))
		return
	case !decimalRe.MatchString(text):
		d.fail(n, path, errorf(ErrType, "%s is not a plain whole number; write it with "+
			"decimal digits only", text))
		return
	}

	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil || v.OverflowInt(i) {
		d.fail(n, path, errorf(ErrInvalid, "%s is too large", text))
		return
	}
	v.SetInt(i)
}

// boolean decodes true or false, refusing YAML 1.1's other spellings.
func (d *decoder) boolean(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, errorf(ErrType, "expected true or false, got %s", kindName(n)))
		return
	}
	if isNull(n) {
		v.SetBool(false)
		return
	}

	switch {
	case n.Tag == "!!bool" && n.Style == 0:
		v.SetBool(strings.EqualFold(n.Value, "true"))
	case n.Style == 0 && yaml11Bools.MatchString(n.Value):
		d.fail(n, path, errorf(ErrType, "%s is a boolean only in YAML 1.1; write true "+
			"or false", n.Value))
	default:
		d.fail(n, path, errorf(ErrType, "expected true or false, got %s", kindName(n)))
	}
}

// duration decodes a Go duration ("30s", "5m") or a whole number of
// seconds.
func (d *decoder) duration(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, errorf(ErrType, "expected a duration, got %s", kindName(n)))
		return
	}
	if isNull(n) {
		return
	}

	if n.Tag == "!!int" && decimalRe.MatchString(n.Value) {
		secs, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || secs > int64(100*365*24*time.Hour/time.Second) {
			d.fail(n, path, errorf(ErrInvalid, "%s seconds is too long", n.Value))
			return
		}
		v.SetInt(int64(time.Duration(secs) * time.Second))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil || n.Tag == "!!float" {
		d.fail(n, path, errorf(ErrType, "%q is not a duration; write a number with a "+
			"unit, such as 30s, 5m or 1h30m, or a whole number of seconds", n.Value))
		return
	}
	v.SetInt(int64(dur))
}

// isNull reports an empty value, ~ or null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// kindName describes a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

// isDigits reports a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// trimZeros drops the leading zeros and underscores of a number.
func trimZeros(s string) string {
	sign := ""
	if s != "" && (s[0] == '-' || s[0] == '+') {
		sign, s = s[:1], s[1:]
	}
	s = strings.TrimLeft(strings.ReplaceAll(s, "_", ""), "0")
	if s == "" {
		s = "0"
	}
	return sign + s
}

// join appends key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// field is one struct field as the decoder sees it.
type field struct {
	index int
	opts  fieldOpts
}

// fields describes a struct type's YAML keys.
type fields struct {
	byKey map[string]field
	keys  []string // in declaration order
}

// structFields lists the YAML keys of struct type t.
func structFields(t reflect.Type) fields {
	fs := fields{byKey: map[string]field{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || name == "" || name == "-" {
			continue
		}
		o := fieldOpts{literal: sf.Tag.Get("recipe") == "literal"}
		fs.byKey[name] = field{index: i, opts: o}
		fs.keys = append(fs.keys, name)
	}
	return fs
}

// fieldIndex maps each normalised key of the schema rooted at t to the
// struct paths that have it, lists written as "[]".
func fieldIndex(t reflect.Type) map[string][]string {
	idx := map[string][]string{}
	var walk func(t reflect.Type, path string, depth int)
	walk = func(t reflect.Type, path string, depth int) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				path += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || depth > 8 {
			return
		}
		fs := structFields(t)
		for _, k := range fs.keys {
			idx[normKey(k)] = append(idx[normKey(k)], path)
			walk(t.Field(fs.byKey[k].index).Type, join(path, k), depth+1)
		}
	}
	walk(t, "", 0)
	return idx
}

// joinSorted joins errs in the order of their positions in the file.
func joinSorted(errs []error) error {
	slices.SortStableFunc(errs, func(a, b error) int {
		fa, fb := FieldErrors(a), FieldErrors(b)
		if len(fa) == 0 || len(fb) == 0 {
			return 0
		}
		la, lb := fa[0].Line, fb[0].Line
		if la == 0 || lb == 0 {
			return cmp.Compare(lb, la) // unknown positions last
		}
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(fa[0].Column, fb[0].Column))
	})
	return errors.Join(errs...)
}
