package recipe

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Walltime is a job time limit in one of the forms sbatch accepts for
// --time: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM" or "D-HH:MM:SS".
// As in sbatch, "30" is thirty minutes and "4:00" is four minutes, not four
// hours. The empty Walltime means no limit is asked for, so the partition's
// default applies.
//
// In YAML a walltime must be a string: time: 3600 is an error (SLURM would
// read it as 3600 minutes), and so is an unquoted time: 1:30, which YAML 1.1
// tools read as the number 90 and SLURM as ninety seconds.
type Walltime string

// Duration parses w. It returns 0 and no error for the empty Walltime, and
// an error wrapping ErrInvalid for anything sbatch would not accept, for a
// zero limit, and for UNLIMITED and INFINITE (leave the time out instead).
func (w Walltime) Duration() (time.Duration, error) {
	s := strings.TrimSpace(string(w))
	if s == "" {
		return 0, nil
	}
	bad := func(why string) error {
		return errorf(ErrInvalid, "walltime %q %s; write D-HH:MM:SS, HH:MM:SS or MM, "+
			"such as \"01:00:00\" or \"1-00:00:00\"", s, why)
	}
	switch strings.ToUpper(s) {
	case "UNLIMITED", "INFINITE":
		return 0, errorf(ErrInvalid, "walltime %q is not accepted; leave time out to "+
			"get the partition's limit", s)
	}

	days, rest, hasDays := int64(0), s, false
	if d, r, ok := strings.Cut(s, "-"); ok {
		n, ok := digits(d)
		if !ok {
			return 0, bad("has a bad day count")
		}
		days, rest, hasDays = n, r, true
	}
	parts := strings.Split(rest, ":")
	if len(parts) > 3 || (hasDays && rest == "") {
		return 0, bad("has too many fields")
	}
	n := make([]int64, len(parts))
	for i, p := range parts {
		v, ok := digits(p)
		if !ok {
			return 0, bad("is not in a form sbatch accepts")
		}
		n[i] = v
	}

	var h, m, sec int64
	switch {
	case hasDays && len(n) == 1: // D-HH
		h = n[0]
	case hasDays && len(n) == 2: // D-HH:MM
		h, m = n[0], n[1]
	case len(n) == 3: // [D-]HH:MM:SS
		h, m, sec = n[0], n[1], n[2]
	case len(n) == 2: // MM:SS
		m, sec = n[0], n[1]
	default: // MM
		m = n[0]
	}
	switch {
	case len(n) >= 2 && (sec >= 60 || (len(n) == 3 || hasDays) && m >= 60):
		return 0, bad("has minutes or seconds above 59")
	case hasDays && h >= 24:
		return 0, bad("has hours above 23 after the days")
	case days > 100000 || h > 100000*24 || m > 100000*24*60:
		return 0, bad("is too long")
	}

	total := time.Duration(((days*24+h)*60+m)*60+sec) * time.Second
	if total == 0 {
		return 0, errorf(ErrInvalid, "walltime %q is zero; leave time out to get the "+
			"partition's limit", s)
	}
	return total, nil
}

// digits parses a non-empty run of ASCII digits of reasonable length.
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

var memRe = regexp.MustCompile(`^([0-9]+)(?:([KMGTkmgt])[Bb]?)?$`)

// ParseMem parses a --mem value in SLURM's form and returns it in bytes. A
// bare number is megabytes; K, M, G and T (either case, optionally followed
// by B) are binary units, as SLURM reads them. "0", SLURM's "all of the
// node's memory", gives 0. Fractions ("1.5G") are not accepted by SLURM and
// give an error wrapping ErrInvalid.
func ParseMem(s string) (int64, error) {
	m := memRe.FindStringSubmatch(s)
	if m == nil {
		hint := ""
		if strings.Contains(s, ".") {
			hint = " (SLURM takes whole numbers: write 1536M, not 1.5G)"
		}
		return 0, errorf(ErrInvalid, "memory %q is not in SLURM's form: a whole number "+
			"with an optional K, M, G or T suffix, such as 500M or 16G%s", s, hint)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > 1<<40 {
		return 0, errorf(ErrInvalid, "memory %q is too large", s)
	}

	shift := map[string]uint{"k": 10, "m": 20, "g": 30, "t": 40, "": 20}[strings.ToLower(m[2])]
	if n > (1<<62)>>shift {
		return 0, errorf(ErrInvalid, "memory %q is too large", s)
	}
	return n << shift, nil
}

// promDurationRe matches Prometheus' duration form, such as "15s", "1h30m"
// or "30d", with units in decreasing order.
var promDurationRe = regexp.MustCompile(
	`^(?:[0-9]+y)?(?:[0-9]+w)?(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?(?:[0-9]+ms)?$`)

// checkPromDuration reports whether s is a non-empty Prometheus duration.
func checkPromDuration(s string) error {
	if s == "" || !promDurationRe.MatchString(s) {
		return errorf(ErrInvalid, "%q is not a Prometheus duration; write a number with a "+
			"unit (ms, s, m, h, d, w, y), such as 15s or 30d", s)
	}
	return nil
}

// knownSchemes are the image sources Apptainer can build from.
var knownSchemes = map[string]bool{
	"docker": true, "docker-archive": true, "docker-daemon": true, "oci": true,
	"oci-archive": true, "oras": true, "library": true, "shub": true,
	"http": true, "https": true,
}

// NormalizeSource returns an Apptainer image source in normal form: spaces
// trimmed, a repeated "docker://docker://" prefix collapsed to one, and
// "docker://" added to a reference with no scheme, so "redis:7" becomes
// "docker://redis:7". The empty string stays empty.
func NormalizeSource(ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	for strings.HasPrefix(ref, "docker://docker://") {
		ref = strings.TrimPrefix(ref, "docker://")
	}
	if !strings.Contains(ref, "://") {
		ref = "docker://" + ref
	}
	return ref
}

// checkSource reports a malformed image source.
func checkSource(ref string) error {
	n := NormalizeSource(ref)
	scheme, rest, _ := strings.Cut(n, "://")
	switch {
	case strings.ContainsAny(n, " \t\n\"'`$"):
		return errorf(ErrInvalid, "image source %q has spaces, quotes or $", ref)
	case !knownSchemes[scheme]:
		return errorf(ErrInvalid, "image source %q has an unknown scheme %q; use "+
			"docker://, oras://, library:// or https://", ref, scheme+"://")
	case rest == "":
		return errorf(ErrInvalid, "image source %q names no image", ref)
	}
	return nil
}

// Bind is one Apptainer bind mount, parsed from "src[:dst[:opts]]".
type Bind struct {
	// Source is the path on the node, as written ($HOME unexpanded).
	Source string
	// Dest is the path inside the container; it equals Source when the
	// bind gave none.
	Dest string
	// Options is "ro", "rw" or "" (Apptainer's default, read-write).
	Options string
}

// ParseBind parses an Apptainer bind "src[:dst[:ro|rw]]". Both paths must
// be absolute: starting with "/", "~/", "$HOME/" or another $NAME/ that the
// job's shell expands. It returns an error wrapping ErrInvalid otherwise.
func ParseBind(s string) (Bind, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 || s == "" {
		return Bind{}, errorf(ErrInvalid, "bind %q is not src[:dst[:ro|rw]]", s)
	}

	b := Bind{Source: parts[0], Dest: parts[0]}
	if len(parts) > 1 {
		b.Dest = parts[1]
	}
	if len(parts) > 2 {
		b.Options = parts[2]
	}
	switch {
	case !isAbsolute(b.Source):
		return Bind{}, errorf(ErrInvalid, "bind %q: source %q is not an absolute path",
			s, b.Source)
	case !isAbsolute(b.Dest):
		return Bind{}, errorf(ErrInvalid, "bind %q: destination %q is not an absolute path",
			s, b.Dest)
	case b.Options != "" && b.Options != "ro" && b.Options != "rw":
		return Bind{}, errorf(ErrInvalid, "bind %q: option %q is neither ro nor rw",
			s, b.Options)
	}
	if err := checkShellWord(s); err != nil {
		return Bind{}, err
	}
	return b, nil
}

// varPrefixRe matches a path that starts with $NAME or ${NAME}.
var varPrefixRe = regexp.MustCompile(
	`^\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})(?:/|$)`)

// isAbsolute reports whether p is absolute once the job's shell has
// expanded a leading ~ or $NAME.
func isAbsolute(p string) bool {
	return strings.HasPrefix(p, "/") || p == "~" || strings.HasPrefix(p, "~/") ||
		varPrefixRe.MatchString(p)
}

// checkShellWord rejects what hpcorch will not pass to the job's shell:
// command substitution, NUL bytes, and "~user" forms.
func checkShellWord(s string) error {
	switch {
	case strings.Contains(s, "$("), strings.Contains(s, "`"):
		return errorf(ErrInvalid, "%q uses command substitution, which hpcorch does not "+
			"pass to the job's shell; use $NAME variables or a wrapper script", s)
	case strings.ContainsRune(s, 0):
		return errorf(ErrInvalid, "%q holds a NUL byte", s)
	case strings.HasPrefix(s, "~") && len(s) > 1 && s[1] != '/':
		return errorf(ErrInvalid, "%q: ~user paths are not supported; write the path "+
			"in full or start it with $HOME/", s)
	}
	return nil
}

// placeholderRe matches template placeholders and unset values that
// templates leak ("<partition>", "None", "<nil>").
var placeholderRe = regexp.MustCompile(`^(<.*>|None|null|nil)$`)

// checkSlurmWord checks a value that goes into an #SBATCH line, where
// sbatch expands nothing: it must have no spaces, no $ and not be a
// leaked placeholder (BC-05).
func checkSlurmWord(s string) error {
	switch {
	case placeholderRe.MatchString(s):
		return errorf(ErrInvalid, "%q looks like an unfilled placeholder; give a real "+
			"value or leave the key out", s)
	case strings.Contains(s, "$"):
		return errorf(ErrInvalid, "%q holds $, but sbatch expands no variables in its "+
			"options; write the value itself", s)
	case strings.ContainsAny(s, " \t\n\"'`\\;&|<>"):
		return errorf(ErrInvalid, "%q holds spaces, quotes or shell characters", s)
	}
	return nil
}

// portError returns an error if p is not a TCP port.
func portError(p Port) error {
	if p < 1 || p > 65535 {
		return errorf(ErrInvalid, "port %d is out of range 1..65535", p)
	}
	return nil
}
