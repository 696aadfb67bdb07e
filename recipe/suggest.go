package recipe

import "strings"

// aliases maps names people often write, normalised as by normKey, to the
// key hpcorch uses. They cover SLURM's own spellings and other tools'.
var aliases = map[string]string{
	"memory":       "mem",
	"walltime":     "time",
	"timelimit":    "time",
	"cpus":         "cpus_per_task",
	"gpus":         "gres",
	"env":          "environment",
	"envvars":      "environment",
	"port":         "ports",
	"binds":        "bind_mounts",
	"bind":         "bind_mounts",
	"mounts":       "bind_mounts",
	"image":        "image_path",
	"sif":          "image_path",
	"docker":       "docker_source",
	"source":       "docker_source",
	"targets":      "monitoring_targets",
	"cadvisor":     "enable_cadvisor",
	"user":         "username",
	"host":         "hostname",
	"key":          "key_filename",
	"identityfile": "key_filename",
	"knownhosts":   "known_hosts",
	"jobname":      "job_name",
	"argv":         "args",
	"arguments":    "args",
	"cmd":          "command",
}

// exactMatch returns the candidate that key spells differently, comparing
// case-insensitively, ignoring "_" and "-", and knowing common aliases
// ("memory" for "mem"), or "".
func exactMatch(key string, candidates []string) string {
	nk := normKey(key)
	for _, c := range candidates {
		if normKey(c) == nk {
			return c
		}
	}
	if a, ok := aliases[nk]; ok {
		for _, c := range candidates {
			if c == a {
				return c
			}
		}
	}
	return ""
}

// nearest returns the candidate at the smallest edit distance from key
// (with transpositions), or "" when even that one is too far for the
// length of the key.
func nearest(key string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(key), c)
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > maxDistance(key) {
		return ""
	}
	return best
}

// maxDistance is how many edits a key of this length may be from a
// suggestion: one for short keys, two from six runes, three from twelve.
func maxDistance(key string) int {
	n := len([]rune(key))
	switch {
	case n >= 12:
		return 3
	case n >= 6:
		return 2
	default:
		return 1
	}
}

// normKey lowercases k and drops "_" and "-", so that "CPUs-per-task",
// "cpus_per_task" and "cpuspertask" compare equal.
func normKey(k string) string {
	k = strings.ToLower(k)
	return strings.NewReplacer("_", "", "-", "").Replace(k)
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of two adjacent
// runes each cost one, so "enable_cadvsior" is one edit from
// "enable_cadvisor".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}

	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// Suggest returns the candidate word most likely meant, as unknown keys
// are answered: the same word spelt with other case, "_" or "-", a common
// alias, or the nearest within a few edits for its length (one for short
// words, two from six runes, three from twelve). It returns "" when none is
// close. The catalog uses it for mistyped recipe names.
func Suggest(word string, candidates []string) string {
	if c := exactMatch(word, candidates); c != "" {
		return c
	}
	return nearest(word, candidates)
}
