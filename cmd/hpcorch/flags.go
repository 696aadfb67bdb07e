package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hpcorch/hpcorch/recipe"
)

// errHelp is returned by parse for -h and --help.
var errHelp = errors.New("help requested")

// usageError is a command line that does not parse; the CLI exits with 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// flagSpec describes one flag: how many values follow it, whether it is an
// action (exactly one per invocation) and its help text.
type flagSpec struct {
	name     string
	min, max int
	action   bool
	values   string // "ID PROMQL" for the help text
	help     string
}

// specs lists every flag, in the order the help shows them.
var specs = []flagSpec{
	{name: "recipe", min: 1, max: 1, action: true, values: "FILE",
		help: "start the service (or, for a Prometheus recipe, the monitor) FILE " +
			"describes; FILE may name a catalog recipe (see --list-recipes)"},
	{name: "status", action: true,
		help: "list running services and monitors: job id | service id | state | " +
			"elapsed | node"},
	{name: "stop-service", min: 1, max: 1, action: true, values: "ID",
		help: "stop a service or monitor (ID or job id)"},
	{name: "stop-all-services", action: true,
		help: "stop every hpcorch service and monitor"},
	{name: "create-tunnel", min: 1, max: 3, action: true, values: "ID [LOCAL [REMOTE]]",
		help: "forward localhost:LOCAL to the service's REMOTE port (default: its " +
			"port, on the same local port) until Ctrl-C"},
	{name: "query-metrics", min: 2, max: 2, action: true, values: "ID PROMQL",
		help: "run a PromQL query on monitor ID"},
	{name: "list-available-metrics", min: 1, max: 1, action: true, values: "ID",
		help: "list the metric names monitor ID has"},
	{name: "service-endpoint", min: 1, max: 1, action: true, values: "ID",
		help: "print the service's http://node:port"},
	{name: "credentials", min: 1, max: 1, action: true, values: "ID",
		help: "print monitor ID's login as USER:PASSWORD, for curl -u or a browser " +
			"through --create-tunnel (a secret: keep it out of logs)"},
	{name: "list-recipes", action: true,
		help: "list the recipes of the built-in catalog"},
	{name: "report", min: 2, max: 2, action: true, values: "ID FILE",
		help: "write a report of monitor ID to FILE (JSON, plus FILE.html)"},
	{name: "collect-metrics", min: 3, max: 3, action: true, values: "ID PROMQL FILE",
		help: "write the result of a PromQL query on monitor ID to FILE as JSON"},
	{name: "logs", min: 1, max: 1, action: true, values: "ID",
		help: "print the last lines of the service's output"},
	{name: "build-image", min: 1, max: 1, action: true, values: "RECIPE",
		help: "build RECIPE's Apptainer image from its docker_source into its " +
			"image_path on the login node, unless it is there (for compute nodes " +
			"without a registry)"},
	{name: "upload-image", min: 2, max: 2, action: true, values: "RECIPE SIF",
		help: "copy the image SIF, built on this machine, to RECIPE's image_path on " +
			"the cluster"},
	{name: "install-cadvisor", min: 0, max: 1, action: true, values: "[BINARY]",
		help: "install cAdvisor on the cluster once: upload BINARY from this " +
			"machine, or download the release on the cluster"},

	{name: "config", min: 1, max: 1, values: "FILE",
		help: "cluster config (default config.yaml)"},
	{name: "session", min: 1, max: 1, values: "NAME",
		help: "see and start only jobs tagged NAME (letters, digits, - _ .), " +
			"to keep experiments apart; default $HPCORCH_SESSION"},
	{name: "dry-run",
		help: "with --recipe: print the batch script instead of submitting it"},
	{name: "wait",
		help: "with --recipe: wait until the service is ready, showing its progress"},
	{name: "timeout", min: 1, max: 1, values: "DURATION",
		help: "with --wait: give up after DURATION (default 10m)"},
	{name: "lines", min: 1, max: 1, values: "N",
		help: "with --logs: how many lines (default 100)"},
	{name: "json", help: "print results as JSON, for scripts"},
	{name: "help", help: "show this help"},
}

// DefaultConfigFile is the config read when --config is not given.
const DefaultConfigFile = "config.yaml"

// Defaults of the modifier flags.
const (
	defaultTimeout = 10 * time.Minute
	defaultLines   = 100
)

// invocation is a parsed command line.
type invocation struct {
	action string   // the action flag's name, without dashes
	args   []string // its values

	config    string // --config, or DefaultConfigFile
	configSet bool   // --config was given
	session   string
	json      bool
	dryRun    bool
	wait      bool
	timeout   time.Duration
	lines     int
}

func lookupSpec(name string) (flagSpec, bool) {
	for _, s := range specs {
		if s.name == name {
			return s, true
		}
	}
	return flagSpec{}, false
}

// isFlag reports whether tok is one of hpcorch's flags, so that it ends the
// values of the flag before it. Anything else (a PromQL query starting with
// "-", say) is a value.
func isFlag(tok string) bool {
	if tok == "-h" {
		return true
	}
	name, ok := strings.CutPrefix(tok, "--")
	if !ok {
		return false
	}
	name, _, _ = strings.Cut(name, "=")
	_, known := lookupSpec(name)
	return known
}

// parse reads the command line (without the program name). Flags take
// their values as the words that follow them, as the reference tool's do:
// --create-tunnel ID 8080 9090. A flag with one value also takes
// --flag=value.
func parse(argv []string) (*invocation, error) {
	inv := &invocation{config: DefaultConfigFile, timeout: defaultTimeout, lines: defaultLines}
	seen := map[string]bool{}

	for i := 0; i < len(argv); i++ {
		tok := argv[i]
		if tok == "-h" || tok == "--help" {
			return nil, errHelp
		}
		name, ok := strings.CutPrefix(tok, "--")
		if !ok || name == "" {
			return nil, usagef("unexpected argument %q", tok)
		}
		name, inline, hasInline := strings.Cut(name, "=")
		spec, known := lookupSpec(name)
		if !known {
			return nil, usagef("unknown flag --%s%s", name, suggest(name))
		}
		if seen[name] {
			return nil, usagef("--%s given twice", name)
		}
		seen[name] = true

		var vals []string
		if hasInline {
			if spec.max == 0 {
				return nil, usagef("--%s takes no value", name)
			}
			vals = []string{inline}
		} else {
			for len(vals) < spec.max && i+1 < len(argv) && !isFlag(argv[i+1]) {
				i++
				vals = append(vals, argv[i])
			}
		}
		if len(vals) < spec.min {
			return nil, usagef("--%s needs %s", name, spec.values)
		}
		if err := inv.set(spec, vals); err != nil {
			return nil, err
		}
	}
	return inv, inv.check(seen)
}

// set records one flag and its values.
func (inv *invocation) set(spec flagSpec, vals []string) error {
	if spec.action {
		if inv.action != "" {
			return usagef("--%s and --%s cannot be used together; give one action",
				inv.action, spec.name)
		}
		inv.action, inv.args = spec.name, vals
		return nil
	}

	switch spec.name {
	case "config":
		if vals[0] == "" {
			return usagef("--config needs a FILE")
		}
		inv.config, inv.configSet = vals[0], true
	case "session":
		inv.session = vals[0]
	case "json":
		inv.json = true
	case "dry-run":
		inv.dryRun = true
	case "wait":
		inv.wait = true
	case "timeout":
		d, err := time.ParseDuration(vals[0])
		if err != nil || d <= 0 {
			return usagef("--timeout %q is not a positive duration such as 90s or 10m",
				vals[0])
		}
		inv.timeout = d
	case "lines":
		n, err := strconv.Atoi(vals[0])
		if err != nil || n <= 0 {
			return usagef("--lines %q is not a positive number", vals[0])
		}
		inv.lines = n
	}
	return nil
}

// check validates the combination of flags.
func (inv *invocation) check(seen map[string]bool) error {
	if inv.action == "" {
		return usagef("no action given; try --status, --recipe FILE or --help")
	}
	only := map[string]string{"dry-run": "recipe", "wait": "recipe", "lines": "logs"}
	for flag, action := range only {
		if seen[flag] && inv.action != action {
			return usagef("--%s goes with --%s", flag, action)
		}
	}
	if seen["timeout"] && !inv.wait {
		return usagef("--timeout goes with --wait")
	}
	if inv.dryRun && inv.wait {
		return usagef("--dry-run submits nothing, so there is nothing to --wait for")
	}
	for _, a := range inv.args {
		if a == "" {
			return usagef("--%s: empty value", inv.action)
		}
	}
	if inv.action == "create-tunnel" {
		return checkPorts(inv.args[1:])
	}
	return nil
}

// checkPorts validates the LOCAL and REMOTE ports of --create-tunnel.
func checkPorts(ports []string) error {
	names := []string{"LOCAL", "REMOTE"}
	for i, p := range ports {
		n, err := strconv.Atoi(p)
		min := 1
		if i == 0 {
			min = 0 // local port 0: any free port
		}
		if err != nil || n < min || n > 65535 {
			return usagef("--create-tunnel: %s port %q is not a port number", names[i], p)
		}
	}
	return nil
}

// tunnelPorts returns the LOCAL and REMOTE ports given to --create-tunnel,
// -1 for each one left out.
func (inv *invocation) tunnelPorts() (local, remote int) {
	local, remote = -1, -1
	if len(inv.args) > 1 {
		local, _ = strconv.Atoi(inv.args[1])
	}
	if len(inv.args) > 2 {
		remote, _ = strconv.Atoi(inv.args[2])
	}
	return local, remote
}

// suggest returns ` (did you mean --x?)` for a near miss, or "", by the
// rules recipe keys are suggested by.
func suggest(name string) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	if best := recipe.Suggest(name, names); best != "" {
		return " (did you mean --" + best + "?)"
	}
	return ""
}
