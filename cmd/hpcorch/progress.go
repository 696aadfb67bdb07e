package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/hpcorch/hpcorch/orchestrator"
)

// progress prints the state of a job --wait is waiting for. On a terminal
// it rewrites one line in place; elsewhere (a log, a pipe) it prints a line
// each time the state, reason or node changes.
type progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	last string // the last state line printed, without the time
	wide int    // the longest line written in place
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

// report prints p's line for one observation. It is safe to call from
// WaitReady's progress goroutine.
func (p *progress) report(pr orchestrator.Progress) {
	state := progressState(pr)
	line := fmt.Sprintf("  %s: %s, waiting %s", pr.ID, state,
		orchestrator.FormatElapsed(pr.Waited))

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		pad := strings.Repeat(" ", max(p.wide-len(line), 0))
		fmt.Fprint(p.w, "\r"+line+pad)
		p.wide = max(p.wide, len(line))
		return
	}
	if state != p.last {
		fmt.Fprintln(p.w, line)
		p.last = state
	}
}

// done ends the line written in place.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.wide > 0 {
		fmt.Fprintln(p.w)
	}
}

// progressState is "PENDING (Resources)" or "RUNNING on node2".
func progressState(pr orchestrator.Progress) string {
	s := pr.State.String()
	if pr.Reason != "" && !pr.State.Terminal() && pr.Node == "" {
		s += " (" + pr.Reason + ")"
	}
	if pr.Node != "" {
		s += " on " + pr.Node
	}
	return s
}
