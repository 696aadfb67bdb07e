// Command hpcorch runs and monitors services on a SLURM cluster from this
// machine, with the flags and outputs of the reference tool it replaces:
//
//	hpcorch --recipe recipes/services/redis_with_cadvisor.yaml --wait
//	hpcorch --status
//	hpcorch --create-tunnel prometheus_6355d49f 9090 9090
//	hpcorch --query-metrics prometheus_6355d49f 'container_memory_usage_bytes'
//	hpcorch --stop-all-services
//
// Run hpcorch --help for every flag. The cluster is described by
// config.yaml (or --config FILE); see package
// github.com/hpcorch/hpcorch/recipe for its format.
//
// Results go to standard output (as JSON with --json); progress lines and
// errors go to standard error, one line each, "hpcorch: " first (a recipe
// with several faults gets a line for each); with --json, as one JSON
// object, {"error": ..., "errors": [...]}. The exit status is 1 when an
// action failed and 2 for a command line that does not parse.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/hpcorch/hpcorch/servers"
)

// SessionEnv names the environment variable that gives --session its
// default, so that a script sets it once.
const SessionEnv = "HPCORCH_SESSION"

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command: it parses argv, runs the action and returns
// the exit status. ctx ends on Ctrl-C or SIGTERM.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	inv, err := parse(argv)
	switch {
	case errors.Is(err, errHelp):
		writeUsage(stdout)
		return exitOK
	case err != nil && slices.Contains(argv, "--json"):
		writeJSONError(stderr, err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "hpcorch: %v\nRun hpcorch --help for usage.\n", err)
		return exitUsage
	}

	if inv.session == "" {
		inv.session = os.Getenv(SessionEnv)
	}
	c := &cli{inv: inv, stdout: stdout, stderr: stderr, progressTTY: isTerminal(stderr)}
	if err := c.run(ctx); err != nil {
		if inv.json {
			writeJSONError(stderr, err)
			return exitFail
		}
		for _, line := range strings.Split(message(err), "\n") {
			fmt.Fprintf(stderr, "hpcorch: %s\n", line)
		}
		return exitFail
	}
	return exitOK
}

// jsonError is what --json prints on standard error for a failed action:
// every error it joins, in order, each a line of the plain form.
type jsonError struct {
	Error  string   `json:"error"`
	Errors []string `json:"errors,omitempty"`
}

// writeJSONError writes err as a jsonError on one line.
func writeJSONError(w io.Writer, err error) {
	lines := strings.Split(message(err), "\n")
	out := jsonError{Error: lines[0]}
	if len(lines) > 1 {
		out.Errors = lines
	}
	b, _ := json.Marshal(out)
	fmt.Fprintf(w, "%s\n", b)
}

// message is what the CLI prints for err. A readiness failure
// (servers.ReadyError) is its first line, the job's log being a --logs
// away; any other error keeps all its lines, each one error of several
// joined (every field error of a recipe, say).
func message(err error) string {
	var re *servers.ReadyError
	if errors.As(err, &re) {
		first, _, more := strings.Cut(err.Error(), "\n")
		if more {
			first += " (more with hpcorch --logs " + re.ID + ")"
		}
		return first
	}
	return strings.TrimRight(err.Error(), "\n")
}

// oneLine is the first line of err's message, for a line of its own (a
// tunnel event).
func oneLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// isTerminal reports whether w is a terminal, where a progress line is
// rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
