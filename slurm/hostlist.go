package slurm

import (
	"fmt"
	"strconv"
	"strings"
)

// maxHosts bounds an expansion so that a hostile or broken hostlist
// ("node[1-999999999]") cannot exhaust memory.
const maxHosts = 1 << 16

// ExpandHostlist expands a SLURM hostlist expression such as
// "node[01-03,7],gpu1" into host names, in order and keeping duplicates,
// as `scontrol show hostnames` does. Zero padding follows the width of a
// range's lower bound. Several bracket groups in one name expand as a
// product ("rack[0-1]_blade[0-1]"). An empty string gives no hosts.
// Malformed input returns an error wrapping ErrBadHostlist.
func ExpandHostlist(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "(null)" || s == "None assigned" {
		return nil, nil
	}
	parts, err := splitTopLevel(s)
	if err != nil {
		return nil, err
	}

	var hosts []string
	for _, p := range parts {
		h, err := expandOne(p)
		if err != nil {
			return nil, fmt.Errorf("slurm: hostlist %q: %w", s, err)
		}
		hosts = append(hosts, h...)
		if len(hosts) > maxHosts {
			return nil, fmt.Errorf("slurm: hostlist %q: too many hosts: %w", s, ErrBadHostlist)
		}
	}
	return hosts, nil
}

// splitTopLevel splits on commas outside brackets.
func splitTopLevel(s string) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
			if depth > 1 {
				return nil, fmt.Errorf("slurm: hostlist %q: nested brackets: %w", s, ErrBadHostlist)
			}
		case ']':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("slurm: hostlist %q: unbalanced ]: %w", s, ErrBadHostlist)
			}
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("slurm: hostlist %q: unbalanced [: %w", s, ErrBadHostlist)
	}
	parts = append(parts, s[start:])
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("slurm: hostlist %q: empty name: %w", s, ErrBadHostlist)
		}
	}
	return parts, nil
}

// expandOne expands one name with zero or more bracket groups.
func expandOne(p string) ([]string, error) {
	open := strings.IndexByte(p, '[')
	if open < 0 {
		if strings.ContainsAny(p, "] \t") {
			return nil, ErrBadHostlist
		}
		return []string{p}, nil
	}
	end := strings.IndexByte(p[open:], ']')
	if end < 0 {
		return nil, ErrBadHostlist
	}
	end += open
	prefix := p[:open]
	if strings.ContainsAny(prefix, "] \t") {
		return nil, ErrBadHostlist
	}

	items, err := expandRanges(p[open+1 : end])
	if err != nil {
		return nil, err
	}
	tails, err := expandOne(p[end+1:])
	if err != nil {
		return nil, err
	}
	if len(items)*len(tails) > maxHosts {
		return nil, ErrBadHostlist
	}

	out := make([]string, 0, len(items)*len(tails))
	for _, it := range items {
		for _, t := range tails {
			out = append(out, prefix+it+t)
		}
	}
	return out, nil
}

// expandRanges expands "01-03,7" into "01","02","03","7".
func expandRanges(body string) ([]string, error) {
	if body == "" {
		return nil, ErrBadHostlist
	}
	var out []string
	for _, r := range strings.Split(body, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		if !isDigits(lo) || (isRange && !isDigits(hi)) {
			return nil, ErrBadHostlist
		}
		if !isRange {
			out = append(out, lo)
			continue
		}
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b, err2 := strconv.ParseUint(hi, 10, 32)
		if err1 != nil || err2 != nil || b < a || b-a >= maxHosts {
			return nil, ErrBadHostlist
		}
		width := len(lo)
		for n := a; n <= b; n++ {
			out = append(out, fmt.Sprintf("%0*d", width, n))
		}
		if len(out) > maxHosts {
			return nil, ErrBadHostlist
		}
	}
	return out, nil
}

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
