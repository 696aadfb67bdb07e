package slurm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Walltime is a time limit or elapsed time as SLURM prints it. The zero
// value is "not set": the job or partition gave no limit.
type Walltime struct {
	// Duration is the limit; it is meaningful only when Set is true and
	// Unlimited and Unknown are false.
	Duration time.Duration
	// Set reports whether a limit was given. "Partition_Limit" and
	// "NOT_SET" parse to Set == false.
	Set bool
	// Unlimited reports "UNLIMITED" or "INFINITE".
	Unlimited bool
	// Unknown reports "INVALID" or "N/A": a value SLURM could not compute.
	Unknown bool
}

// Limit returns a set, finite Walltime of d.
func Limit(d time.Duration) Walltime { return Walltime{Duration: d, Set: true} }

// String formats w as FormatDuration does, or "UNLIMITED", "N/A" or "".
func (w Walltime) String() string {
	switch {
	case w.Unknown:
		return "N/A"
	case !w.Set:
		return ""
	case w.Unlimited:
		return "UNLIMITED"
	}
	return FormatDuration(w.Duration)
}

// FormatDuration formats d as SLURM's D-HH:MM:SS with integer fields, the
// one form hpcorch writes to --time. Fractions of a second are rounded up,
// so a limit is never shortened; a negative d formats as zero.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int64((d + time.Second - 1) / time.Second)
	days := secs / 86400
	secs %= 86400
	return fmt.Sprintf("%d-%02d:%02d:%02d", days, secs/3600, secs/60%60, secs%60)
}

// ParseWalltime parses a time as sbatch accepts it and as squeue and sacct
// print it: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS"
// ("4:00" is four minutes, "2-12" is 60 hours), the words UNLIMITED and
// INFINITE (Unlimited), Partition_Limit and NOT_SET (not Set), INVALID and
// N/A (Unknown), and an empty string (not Set). Fractional seconds, as
// some squeue formats print, are accepted. Anything else is an error
// wrapping ErrBadWalltime.
func ParseWalltime(s string) (Walltime, error) {
	t := strings.TrimSpace(s)
	switch strings.ToUpper(t) {
	case "":
		return Walltime{}, nil
	case "UNLIMITED", "INFINITE":
		return Walltime{Set: true, Unlimited: true}, nil
	case "PARTITION_LIMIT", "NOT_SET", "NONE":
		return Walltime{}, nil
	case "INVALID", "N/A", "UNKNOWN":
		return Walltime{Unknown: true}, nil
	}
	d, err := parseClock(t)
	if err != nil {
		return Walltime{}, fmt.Errorf("slurm: walltime %q: %w", t, ErrBadWalltime)
	}
	return Limit(d), nil
}

// ParseDuration parses an elapsed time or limit as ParseWalltime does and
// returns it as a Duration. Words that name no finite time give 0 and no
// error.
func ParseDuration(s string) (time.Duration, error) {
	w, err := ParseWalltime(s)
	if err != nil {
		return 0, err
	}
	return w.Duration, nil
}

func parseClock(t string) (time.Duration, error) {
	days := int64(0)
	rest := t
	hasDays := false
	if d, r, ok := strings.Cut(t, "-"); ok {
		n, err := parseUint(d)
		if err != nil {
			return 0, err
		}
		days, rest, hasDays = n, r, true
	}

	parts := strings.Split(rest, ":")
	if len(parts) > 3 {
		return 0, ErrBadWalltime
	}
	// The last field may carry a fraction of a second ("01:02.345").
	frac := time.Duration(0)
	last := parts[len(parts)-1]
	if i := strings.IndexByte(last, '.'); i >= 0 && len(parts) > 1 {
		f, err := strconv.ParseFloat("0"+last[i:], 64)
		if err != nil || i == 0 {
			return 0, ErrBadWalltime
		}
		frac = time.Duration(f * float64(time.Second))
		parts[len(parts)-1] = last[:i]
	}

	n := make([]int64, len(parts))
	for i, p := range parts {
		v, err := parseUint(p)
		if err != nil {
			return 0, err
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
	const maxDays = 1 << 20 // far above any limit; keeps the arithmetic in range
	if days > maxDays || h > 24*maxDays || m > 60*24*maxDays || sec > 3600*24*maxDays {
		return 0, ErrBadWalltime
	}
	total := ((days*24+h)*60+m)*60 + sec
	return time.Duration(total)*time.Second + frac, nil
}

func parseUint(s string) (int64, error) {
	if s == "" || len(s) > 12 {
		return 0, ErrBadWalltime
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, ErrBadWalltime
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
