package orchestrator

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// SystemStatus is everything hpcorch runs, seen at one moment.
type SystemStatus struct {
	// Time is when the status was taken.
	Time time.Time `json:"time"`

	// Connection says how the cluster is reached and whether it
	// answered.
	Connection Connection `json:"connection"`

	// Services are the active services (pending or running), in job id
	// order.
	Services []servers.Service `json:"services"`

	// Monitors are the active Prometheus monitors, in job id order.
	Monitors []servers.Service `json:"monitors"`

	// Sessions groups the services and monitors that carry a session ID.
	Sessions []SessionStatus `json:"sessions"`
}

// Connection describes how an Orchestrator reaches its cluster.
type Connection struct {
	// Executor is "ssh", "local", or the Go type of a custom Executor.
	Executor string `json:"executor"`
	// Scheduler is "slurm", "local", or the Go type of a custom one.
	Scheduler string `json:"scheduler"`
	// Login is user@host:port for an SSH connection, else "".
	Login string `json:"login,omitempty"`
	// OK reports that the status round succeeded; Error says why not.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// SessionStatus lists the jobs of one benchmark session.
type SessionStatus struct {
	// ID is the session ID.
	ID string `json:"id"`
	// Services and Monitors are the IDs of its active jobs.
	Services []string `json:"services"`
	Monitors []string `json:"monitors"`
	// PrometheusURL is the local end of its tunnel when this
	// Orchestrator opened it, else "".
	PrometheusURL string `json:"prometheus_url,omitempty"`
}

// SystemStatus reports the connection, the active services and monitors of
// every session (of Config.Session, when set), and the sessions they belong
// to, with one scheduler round (one squeue on SLURM) shared by both lists,
// and a command for each list that reads its status files. When the round
// fails, the status returned holds the Connection with its Error, together
// with the error.
func (o *Orchestrator) SystemStatus(ctx context.Context) (*SystemStatus, error) {
	if err := o.checkOpen(); err != nil {
		return nil, err
	}
	st := &SystemStatus{Time: time.Now(), Connection: o.connection()}

	// Both lists share one scheduler round through the cache.
	srv := servers.New(o.exec, &listOnce{Scheduler: o.sched}, o.serversOptions(o.cfg.Session))
	svcs, err := srv.List(ctx, servers.KindService)
	if err == nil {
		st.Monitors, err = srv.List(ctx, servers.KindMonitor)
	}
	if err != nil {
		st.Connection.Error = err.Error()
		return st, fmt.Errorf("orchestrator: status: %w", err)
	}
	st.Connection.OK = true
	st.Services = svcs
	st.Sessions = o.sessionStatuses(st.Services, st.Monitors)
	return st, nil
}

// connection describes o's Executor and Scheduler.
func (o *Orchestrator) connection() Connection {
	c := Connection{}
	switch e := o.exec.(type) {
	case *sshx.Client:
		c.Executor = recipe.ExecutorSSH
		t := e.Target()
		c.Login = t.User + "@" + t.Host + ":" + strconv.Itoa(t.Port)
	case *sshx.Local:
		c.Executor = recipe.ExecutorLocal
	default:
		c.Executor = fmt.Sprintf("%T", o.exec)
	}
	switch o.sched.(type) {
	case *slurm.Slurm:
		c.Scheduler = recipe.SchedulerSlurm
	case *slurm.Local:
		c.Scheduler = recipe.SchedulerLocal
	default:
		c.Scheduler = fmt.Sprintf("%T", o.sched)
	}
	return c
}

// sessionStatuses groups the jobs by session, in session ID order.
func (o *Orchestrator) sessionStatuses(svcs, mons []servers.Service) []SessionStatus {
	by := map[string]*SessionStatus{}
	get := func(id string) *SessionStatus {
		if by[id] == nil {
			by[id] = &SessionStatus{ID: id, Services: []string{}, Monitors: []string{}}
		}
		return by[id]
	}
	for _, s := range svcs {
		if s.Session != "" {
			ss := get(s.Session)
			ss.Services = append(ss.Services, s.ID)
		}
	}
	for _, m := range mons {
		if m.Session != "" {
			ss := get(m.Session)
			ss.Monitors = append(ss.Monitors, m.ID)
		}
	}

	o.mu.Lock()
	for id, s := range o.sessions {
		get(id).PrometheusURL = s.PrometheusURL
	}
	o.mu.Unlock()

	out := make([]SessionStatus, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// listOnce is a Scheduler whose List runs once; later calls get the same
// answer. SystemStatus uses it to list services and monitors from one
// round.
type listOnce struct {
	slurm.Scheduler
	once sync.Once
	jobs []slurm.Job
	err  error
}

// List runs the wrapped List the first time and repeats its answer.
func (l *listOnce) List(ctx context.Context) ([]slurm.Job, error) {
	l.once.Do(func() { l.jobs, l.err = l.Scheduler.List(ctx) })
	return l.jobs, l.err
}

// ShowMonitorsStatus writes the active monitors to w as a table, one line
// each (job id | monitor id | state | elapsed | node), followed by their
// endpoints, with one scheduler round.
func (o *Orchestrator) ShowMonitorsStatus(ctx context.Context, w io.Writer) error {
	if err := o.checkOpen(); err != nil {
		return err
	}
	mons, err := o.Servers.List(ctx, servers.KindMonitor)
	if err != nil {
		return fmt.Errorf("orchestrator: monitors status: %w", err)
	}
	WriteTable(w, "Monitors", mons)
	for _, m := range mons {
		if m.Node != "" && m.Port != 0 {
			fmt.Fprintf(w, "   %s: http://%s:%d\n", m.ID, m.Node, m.Port)
		}
	}
	return nil
}

// WriteTable writes jobs under title the way the reference tool prints
// its status:
//
//	Services:
//	   3653331 | ollama_abc123       |    RUNNING |     5:23 | mel2073
//
// Job ids, states and elapsed times are right-aligned and IDs padded to the
// longest; a job with no node yet shows why it pends instead. An empty list
// prints "   (none)".
func WriteTable(w io.Writer, title string, jobs []servers.Service) {
	fmt.Fprintln(w, title+":")
	if len(jobs) == 0 {
		fmt.Fprintln(w, "   (none)")
		return
	}
	width := 0
	for _, j := range jobs {
		width = max(width, len(j.ID))
	}
	for _, j := range jobs {
		fmt.Fprintf(w, "%10s | %-*s | %10s | %8s | %s\n",
			j.JobID, width, j.ID, j.State, FormatElapsed(j.Elapsed), where(j))
	}
}

// where is the node column: the node, or the reason a job has none.
func where(j servers.Service) string {
	switch {
	case j.Node != "":
		return j.Node
	case j.Reason != "":
		return "(" + j.Reason + ")"
	}
	return ""
}

// FormatElapsed formats d as squeue's %M does: M:SS, H:MM:SS or
// D-HH:MM:SS.
func FormatElapsed(d time.Duration) string {
	s := max(int64(d/time.Second), 0)
	days, s := s/86400, s%86400
	h, s := s/3600, s%3600
	m, s := s/60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s)
	case h > 0:
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
