package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/tunnel"
)

// tunnelOut is the JSON form of --create-tunnel, printed once it is open.
type tunnelOut struct {
	ID         string `json:"id"`
	Remote     string `json:"remote"`
	LocalPort  int    `json:"local_port"`
	URL        string `json:"url"`
	SSHCommand string `json:"ssh_command,omitempty"`
	User       string `json:"user,omitempty"`
	Password   string `json:"password_file,omitempty"`
}

// createTunnel opens the tunnel, prints how to use it and holds it until
// ctx ends (Ctrl-C, SIGTERM).
func (c *cli) createTunnel(ctx context.Context) error {
	id := c.inv.args[0]
	local, remote := c.inv.tunnelPorts()
	svc, err := c.o.Servers.CheckServiceStatus(ctx, id)
	if err != nil {
		return err
	}
	if remote < 0 {
		remote = svc.Port
	} else if w := foreignPort(svc, remote); w != "" {
		fmt.Fprintln(c.stderr, "hpcorch: warning: "+w)
	}
	if local < 0 {
		local = remote // the reference's default: the same port on both ends
	}

	// The box is printed as soon as the local port listens; whether the
	// service's port answers is told on stderr as it is found out.
	var remoteAddr string
	ev := &tunnelEvents{w: c.stderr, remote: func() string { return remoteAddr }}
	t, err := c.o.StartTunnel(ctx, svc.ID, local, remote, tunnel.Options{
		Events: ev.report, RedialTimeout: tunnelRedialTimeout,
	})
	if err != nil {
		return err
	}
	defer t.Close()
	remoteAddr = t.Remote()

	box := tunnelBox{
		Remote:    t.Remote(),
		LocalPort: t.Port(),
		URL:       "http://localhost:" + strconv.Itoa(t.Port()),
		SSH:       c.o.SSHCommand(t),
	}
	if svc.Kind == servers.KindMonitor && svc.RunDir != "" {
		box.Login = fmt.Sprintf("Prometheus asks for a login: user %s, password in %s "+
			"on the cluster (hpcorch --credentials %s prints both).",
			monitors.User, svc.RunDir+"/password", svc.ID)
	}
	if c.inv.json {
		out := tunnelOut{ID: svc.ID, Remote: box.Remote, LocalPort: box.LocalPort,
			URL: box.URL, SSHCommand: box.SSH}
		if box.Login != "" {
			out.User, out.Password = monitors.User, svc.RunDir+"/password"
		}
		if err := c.printJSON(out); err != nil {
			return err
		}
	} else {
		box.write(c.stdout)
	}

	ev.start()
	wctx, stopWatch := context.WithCancel(ctx)
	ended := make(chan slurm.State, 1)
	go func() {
		defer close(ended)
		if st, ok := watchJobEnd(wctx, tunnelWatchInterval, c.jobState(svc.JobID)); ok {
			ended <- st
		}
	}()
	var st slurm.State
	var jobEnded bool
	select {
	case <-ctx.Done():
	case st, jobEnded = <-ended:
	}
	stopWatch()
	<-ended
	_ = t.Close() // its last events are reported before "Tunnel closed."
	if jobEnded {
		return fmt.Errorf("service %s ended (%s); closing the tunnel", svc.ID, st)
	}
	fmt.Fprintln(c.stderr, "Tunnel closed.")
	return nil
}

// tunnelWatchInterval is how often --create-tunnel asks the scheduler
// whether the service's job still runs.
var tunnelWatchInterval = 10 * time.Second

// jobState returns a function that asks the scheduler for job id's state
// with one status round. A job the scheduler no longer knows is
// StateUnknown, which is not active.
func (c *cli) jobState(id string) func(context.Context) (slurm.State, error) {
	return func(ctx context.Context) (slurm.State, error) {
		m, err := c.o.Scheduler().Status(ctx, []string{id})
		if err != nil {
			return slurm.StateUnknown, err
		}
		j := m[id]
		if !j.Found {
			return slurm.StateUnknown, nil
		}
		return j.State, nil
	}
}

// watchJobEnd asks state every interval until it reports a state that is
// not active, and returns it with true; it returns false once ctx ends.
// A failed look (a network hiccup) is tried again at the next tick.
func watchJobEnd(ctx context.Context, every time.Duration,
	state func(context.Context) (slurm.State, error)) (slurm.State, bool) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return slurm.StateUnknown, false
		case <-tick.C:
		}
		sctx, cancel := context.WithTimeout(ctx, max(every, 30*time.Second))
		st, err := state(sctx)
		cancel()
		if err == nil && !st.Active() {
			return st, true
		}
	}
}

// tunnelRedialTimeout is how long a connection through --create-tunnel
// waits for a service port that does not answer before it is closed.
const tunnelRedialTimeout = 5 * time.Second

// tunnelEvents prints a tunnel's events for people: one line when the
// service's port does not answer, when it answers again, and for each
// connection that could not be forwarded. Events before start (the box is
// not printed yet) are held back.
type tunnelEvents struct {
	w      io.Writer
	remote func() string

	mu      sync.Mutex
	started bool
	held    []tunnel.Event
	failing bool // the last state was reconnecting or down
}

// start prints the events held back, then lets the next ones through.
func (e *tunnelEvents) start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = true
	for _, ev := range e.held {
		e.print(ev)
	}
	e.held = nil
}

// report is the tunnel's Events callback.
func (e *tunnelEvents) report(ev tunnel.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		e.held = append(e.held, ev)
		return
	}
	e.print(ev)
}

func (e *tunnelEvents) print(ev tunnel.Event) {
	switch ev.Kind {
	case tunnel.EventReconnecting:
		if !e.failing {
			fmt.Fprintf(e.w, "hpcorch: %s does not answer yet (%v); retrying\n", e.remote(),
				rootCause(ev.Err))
		}
		e.failing = true
	case tunnel.EventDown:
		if errors.Is(ev.Err, tunnel.ErrClosed) {
			return
		}
		fmt.Fprintf(e.w, "hpcorch: %s cannot be reached: %s\n", e.remote(),
			strings.TrimPrefix(oneLine(ev.Err), "tunnel: "))
		e.failing = true
	case tunnel.EventUp:
		if e.failing {
			fmt.Fprintf(e.w, "hpcorch: %s answers now\n", e.remote())
		}
		e.failing = false
	case tunnel.EventConnError:
		fmt.Fprintf(e.w, "hpcorch: connection %d to %s closed: %s\n", ev.Conn, e.remote(),
			strings.TrimPrefix(oneLine(ev.Err), "tunnel: "))
	}
}

// rootCause is the innermost error of err's chain.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// tunnelBox is what --create-tunnel prints once its tunnel is open.
type tunnelBox struct {
	Remote    string // node:port
	LocalPort int
	URL       string // http://localhost:PORT
	SSH       string // the equivalent ssh command, or ""
	Login     string // how to log in to the service, or ""
}

// write prints b in the reference's frame.
func (b tunnelBox) write(w io.Writer) {
	rule := strings.Repeat("=", 70)
	host, port, _ := net.SplitHostPort(b.Remote)
	fmt.Fprintln(w, rule)
	fmt.Fprintln(w, "SSH TUNNEL SETUP")
	fmt.Fprintln(w, rule)
	fmt.Fprintf(w, "To access %s:%s at localhost:%d,\n", host, port, b.LocalPort)
	fmt.Fprintln(w, "hpcorch forwards it now: keep this command running (Ctrl-C closes")
	fmt.Fprintln(w, "the tunnel).")
	if b.SSH != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "To forward it with OpenSSH instead, run in a separate terminal:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  "+b.SSH)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Then access the service at: %s\n", b.URL)
	if b.Login != "" {
		fmt.Fprintln(w, b.Login)
	}
	fmt.Fprintln(w, rule)
}

// foreignPort says, when port is none of the ports svc's job bound (its
// service's or its cAdvisor's), that a tunnel to it reaches whatever else
// listens there, such as another job's service given the port this one's
// recipe asked for; "" otherwise.
func foreignPort(svc *servers.Service, port int) string {
	if port == svc.CAdvisorPort || slices.Contains(svc.Ports, port) || port == svc.Port {
		return ""
	}
	own := make([]string, 0, len(svc.Ports)+1)
	for _, p := range svc.Ports {
		own = append(own, strconv.Itoa(p))
	}
	if svc.CAdvisorPort != 0 {
		own = append(own, strconv.Itoa(svc.CAdvisorPort)+" (cAdvisor)")
	}
	if len(own) == 0 {
		return ""
	}
	return fmt.Sprintf("%d is not a port of %s, which bound %s on %s: the tunnel reaches "+
		"whatever listens on %s:%d (leave REMOTE out for the service's own port)",
		port, svc.ID, strings.Join(own, ", "), svc.Node, svc.Node, port)
}
