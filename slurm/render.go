package slurm

import (
	"errors"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hpcorch/hpcorch/sshx"
)

// Shebang is the first line of every script Render produces.
const Shebang = "#!/bin/bash"

// directivesEnd is the first command of every rendered script. sbatch stops
// reading #SBATCH lines at the first command, so a "#SBATCH" line in
// JobSpec.Script is inert and cannot slip past validation.
const directivesEnd = ": end of batch directives"

// Render returns the batch script for spec: a bash shebang, one #SBATCH
// line per set field in a fixed order, the exports of spec.Env, and
// spec.Script. It is a pure function: the same spec always gives the same
// script, and nothing is run.
//
// Every directive value is checked, since sbatch expands nothing in
// #SBATCH lines and reports bad values only at submit time, if at all:
//   - no value may be "None", "null", "<nil>", a placeholder like
//     "<partition>", contain "$" or a control character;
//   - Name is 1-200 characters of letters, digits and "-_.+:@=";
//   - Comment may hold spaces, but not "|" (it is a field of squeue's
//     delimited output);
//   - Partition, Account and QOS are SLURM names; Mem is a number with an
//     optional K, M, G or T unit; NodeList is a valid hostlist;
//   - Output and WorkDir are paths without "$" or a leading "~" (sbatch
//     expands neither); %j, %x and sbatch's other patterns pass through;
//   - counts are not negative, and Time is not negative.
//
// Env names must be shell identifiers; values are quoted with sshx.Quote.
// A refused field is a *SpecError wrapping ErrInvalidSpec.
func Render(spec JobSpec) (string, error) {
	lines, err := directives(spec)
	if err != nil {
		return "", err
	}
	if strings.ContainsRune(spec.Script, 0) {
		return "", specErr("Script", "", "contains a NUL byte")
	}

	var b strings.Builder
	b.WriteString(Shebang + "\n")
	for _, l := range lines {
		b.WriteString("#SBATCH " + l + "\n")
	}
	b.WriteString(directivesEnd + "\n")

	names := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := spec.Env[k]
		if !envName.MatchString(k) {
			return "", specErr("Env", k, "not a shell variable name")
		}
		if strings.ContainsRune(v, 0) {
			return "", specErr("Env", k, "value contains a NUL byte")
		}
		b.WriteString("export " + k + "=" + sshx.Quote(v) + "\n")
	}

	b.WriteString(spec.Script)
	if spec.Script != "" && !strings.HasSuffix(spec.Script, "\n") {
		b.WriteString("\n")
	}
	return b.String(), nil
}

// DryRun returns the script Submit would send for spec, without running
// anything. It is Render under the name a command line user looks for.
func DryRun(spec JobSpec) (string, error) { return Render(spec) }

var (
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	jobName   = regexp.MustCompile(`^[A-Za-z0-9_.+:@=-]{1,200}$`)
	slurmName = regexp.MustCompile(`^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$`)
	memSpec   = regexp.MustCompile(`^[0-9]+([KMGTkmgt][Bb]?)?$`)
	gresSpec  = regexp.MustCompile(`^[A-Za-z0-9_:.+/-]+(,[A-Za-z0-9_:.+/-]+)*$`)
	optName   = regexp.MustCompile(`^--[a-z][a-z0-9-]*$`)
	placehold = regexp.MustCompile(`^<.*>$`)
)

// directives returns the #SBATCH arguments of spec, validated.
func directives(s JobSpec) ([]string, error) {
	var out []string
	add := func(field, opt, v string, re *regexp.Regexp, what string) error {
		if v == "" {
			return nil
		}
		if err := checkValue(field, v); err != nil {
			return err
		}
		if re != nil && !re.MatchString(v) {
			return specErr(field, v, "not "+what)
		}
		out = append(out, opt+"="+sbatchQuote(v))
		return nil
	}
	addInt := func(field, opt string, n int) error {
		if n < 0 {
			return specErr(field, strconv.Itoa(n), "negative")
		}
		if n > 0 {
			out = append(out, opt+"="+strconv.Itoa(n))
		}
		return nil
	}

	steps := []error{
		add("Name", "--job-name", s.Name, jobName, "1-200 of [A-Za-z0-9_.+:@=-]"),
		checkComment(s.Comment),
		add("Comment", "--comment", s.Comment, nil, ""),
		add("Partition", "--partition", s.Partition, slurmName, "a partition name"),
		add("Account", "--account", s.Account, slurmName, "an account name"),
		add("QOS", "--qos", s.QOS, slurmName, "a QOS name"),
		checkTime(s),
	}
	if s.Time > 0 {
		out = append(out, "--time="+FormatDuration(s.Time))
	}
	steps = append(steps,
		addInt("Nodes", "--nodes", s.Nodes),
		addInt("NTasks", "--ntasks", s.NTasks),
		addInt("NTasksPerNode", "--ntasks-per-node", s.NTasksPerNode),
		addInt("CPUsPerTask", "--cpus-per-task", s.CPUsPerTask),
		add("Mem", "--mem", s.Mem, memSpec, "a size such as 100M or 4G"),
		add("Gres", "--gres", s.Gres, gresSpec, "a gres list such as gpu:1"),
		checkHostlist(s.NodeList),
		add("NodeList", "--nodelist", s.NodeList, nil, ""),
		checkPath("Output", s.Output),
		add("Output", "--output", s.Output, nil, ""),
		checkPath("WorkDir", s.WorkDir),
		add("WorkDir", "--chdir", s.WorkDir, nil, ""),
	)
	for _, d := range s.Directives {
		steps = append(steps, addDirective(&out, d))
	}
	// Report the first refusal in field order.
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func addDirective(out *[]string, d string) error {
	name, val, hasVal := strings.Cut(d, "=")
	if !optName.MatchString(name) {
		return specErr("Directives", d, "not --name or --name=value")
	}
	if !hasVal {
		*out = append(*out, name)
		return nil
	}
	if val == "" {
		return specErr("Directives", d, "empty value")
	}
	if err := checkValue("Directives", val); err != nil {
		return err
	}
	*out = append(*out, name+"="+sbatchQuote(val))
	return nil
}

// checkValue refuses what must never reach an #SBATCH line (BC-05).
func checkValue(field, v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "none", "null", "nil", "<nil>", "undefined", `""`, "''":
		return specErr(field, v, "an unset value")
	}
	if placehold.MatchString(v) {
		return specErr(field, v, "a placeholder")
	}
	if strings.Contains(v, "$") {
		return specErr(field, v, "sbatch does not expand $ in #SBATCH lines")
	}
	if strings.TrimSpace(v) != v {
		return specErr(field, v, "leading or trailing space")
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return specErr(field, v, "a control character")
		}
	}
	low := strings.ToLower(v)
	if strings.Contains(low, "hetjob") || strings.Contains(low, "packjob") {
		// sbatch splits a script into het job components at these words.
		return specErr(field, v, "contains hetjob or packjob")
	}
	return nil
}

func checkComment(c string) error {
	if strings.Contains(c, "|") {
		return specErr("Comment", c, `contains "|"`)
	}
	return nil
}

func checkTime(s JobSpec) error {
	if s.Time < 0 {
		return specErr("Time", s.Time.String(), "negative")
	}
	return nil
}

func checkHostlist(h string) error {
	if h == "" {
		return nil
	}
	if _, err := ExpandHostlist(h); err != nil {
		return &SpecError{Field: "NodeList", Value: h, Reason: "not a hostlist",
			Err: errors.Join(ErrInvalidSpec, err)}
	}
	return nil
}

func checkPath(field, p string) error {
	if strings.HasPrefix(p, "~") {
		return specErr(field, p, "sbatch does not expand ~; give an absolute path")
	}
	return nil
}

// sbatchQuote quotes v the way sbatch reads #SBATCH arguments: bare when
// it holds no blank, quote, backslash or "#" (which starts a comment),
// else in double quotes with backslash escapes.
func sbatchQuote(v string) string {
	if !strings.ContainsAny(v, " \t\"'\\#") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(v) + `"`
}

func specErr(field, value, why string) error {
	return &SpecError{Field: field, Value: value, Reason: why, Err: ErrInvalidSpec}
}
