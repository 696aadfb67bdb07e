package slurm

import (
	"strconv"
	"strings"
)

// OutputVars are the values ExpandOutput substitutes.
type OutputVars struct {
	JobID string // %j, %J, %A
	Name  string // %x
	User  string // %u
	Node  string // %N
}

// ExpandOutput expands sbatch's filename patterns in an --output value:
// %j, %J and %A (job id), %x (job name), %u (user), %N (node), %a (array
// task id; 4294967294 outside an array, as SLURM prints), %n and %t (0),
// %s ("batch") and %% (a percent sign). A number between % and the letter
// zero-pads a numeric value to that width ("%5j"). Unknown patterns are
// kept as they are.
func ExpandOutput(pattern string, v OutputVars) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 >= len(pattern) {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(pattern) && pattern[j] >= '0' && pattern[j] <= '9' {
			j++
		}
		if j >= len(pattern) {
			b.WriteString(pattern[i:])
			break
		}
		width, _ := strconv.Atoi(pattern[i+1 : j])
		val, numeric, ok := outputVar(pattern[j], v)
		if !ok {
			b.WriteString(pattern[i : j+1])
			i = j
			continue
		}
		if numeric && len(val) < width {
			val = strings.Repeat("0", width-len(val)) + val
		}
		b.WriteString(val)
		i = j
	}
	return b.String()
}

func outputVar(c byte, v OutputVars) (val string, numeric, ok bool) {
	switch c {
	case 'j', 'J', 'A':
		return v.JobID, true, true
	case 'x':
		return v.Name, false, true
	case 'u':
		return v.User, false, true
	case 'N':
		return v.Node, false, true
	case 'a':
		return "4294967294", true, true
	case 'n', 't':
		return "0", true, true
	case 's':
		return "batch", false, true
	case '%':
		return "%", false, true
	}
	return "", false, false
}
