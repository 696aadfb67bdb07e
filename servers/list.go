package servers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// ListRunningServices lists the active services (pending or running) of
// the session, or of every session when Options.Session is empty: never
// monitors nor the user's other jobs. It costs one scheduler round and
// one command to read the running ones' status files.
func (s *Servers) ListRunningServices(ctx context.Context) ([]Service, error) {
	return s.List(ctx, KindService)
}

// List lists the active hpcorch jobs of kind (pending or running) of the
// session, or of every session when Options.Session is empty, in job id
// order. It costs one scheduler round and one command to read the running
// ones' status files.
func (s *Servers) List(ctx context.Context, kind Kind) ([]Service, error) {
	jobs, err := s.sched.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("servers: list %ss: %w", kind, err)
	}
	root, err := s.root(ctx)
	if err != nil {
		return nil, err
	}

	var out []Service
	var running []string
	for _, j := range jobs {
		k, session, ok := parseComment(j.Comment)
		if !ok || k != kind || !j.State.Active() {
			continue
		}
		if s.opts.Session != "" && session != s.opts.Session {
			continue
		}
		out = append(out, fromJob(j, k, session, root))
		if len(j.Nodes) > 0 {
			running = append(running, j.Name)
		}
	}

	if len(running) > 0 {
		st, err := s.readStatuses(ctx, root, running)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i].apply(st[out[i].ID])
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessJobID(out[i].JobID, out[j].JobID) })
	return out, nil
}

// CheckServiceStatus reports one service, of any kind, by ID or job id:
// what the scheduler says now and what its status file says. A finished
// service is reported with its final state while the scheduler or the run
// folder still knows it. An unknown one is ErrNotFound. With
// Options.Session set, a service of another session (or of none) is a
// *SessionError, which wraps ErrNotFound; with it empty, every session's
// services are found.
func (s *Servers) CheckServiceStatus(ctx context.Context, idOrJobID string) (*Service, error) {
	o, err := s.observe(ctx, idOrJobID)
	if err != nil {
		return nil, err
	}
	return o.svc, nil
}

// observation is one look at a service: the Service, its job as the
// scheduler reports it, and its status file.
type observation struct {
	svc    *Service
	job    slurm.Job
	status map[string]string
}

// observe looks a service up and reads its status file.
func (s *Servers) observe(ctx context.Context, idOrJobID string) (*observation, error) {
	svc, job, err := s.lookup(ctx, idOrJobID)
	if err != nil {
		return nil, err
	}
	st, err := s.readStatuses(ctx, path.Dir(svc.RunDir), []string{svc.ID})
	if err != nil {
		return nil, err
	}
	svc.apply(st[svc.ID])
	return &observation{svc: svc, job: job, status: st[svc.ID]}, nil
}

// StopService cancels a service by ID or job id. Stopping one that has
// already ended, or is ending (COMPLETING), is not an error and cancels
// nothing; one nobody knows is ErrNotFound, and one of another session, when
// Options.Session is set, a *SessionError.
func (s *Servers) StopService(ctx context.Context, idOrJobID string) error {
	svc, _, err := s.lookup(ctx, idOrJobID)
	if err != nil {
		return err
	}
	if !svc.State.Active() || svc.State == slurm.StateCompleting {
		return nil
	}
	if err := s.sched.Cancel(ctx, svc.JobID); err != nil {
		return fmt.Errorf("servers: stop %s (job %s): %w", svc.ID, svc.JobID, err)
	}
	s.log.Info("stopped", "service", svc.ID, "job_id", svc.JobID)
	return nil
}

// StopAllServices cancels every service ListRunningServices reports, and
// nothing else: monitors keep running, and jobs already ending
// (COMPLETING) are left to end. It returns the IDs it cancelled; failures
// are joined in the error.
func (s *Servers) StopAllServices(ctx context.Context) ([]string, error) {
	svcs, err := s.List(ctx, KindService)
	if err != nil {
		return nil, err
	}
	var stopped []string
	var errs []error
	for _, svc := range svcs {
		if svc.State == slurm.StateCompleting {
			continue
		}
		if err := s.sched.Cancel(ctx, svc.JobID); err != nil {
			errs = append(errs, fmt.Errorf("servers: stop %s (job %s): %w", svc.ID, svc.JobID, err))
			continue
		}
		s.log.Info("stopped", "service", svc.ID, "job_id", svc.JobID)
		stopped = append(stopped, svc.ID)
	}
	return stopped, errors.Join(errs...)
}

// ServiceHost returns the node a service runs on, or ErrNotRunning.
func (s *Servers) ServiceHost(ctx context.Context, id string) (string, error) {
	svc, err := s.CheckServiceStatus(ctx, id)
	if err != nil {
		return "", err
	}
	if svc.Node == "" || !svc.State.Active() {
		return "", fmt.Errorf("%w: %s is %s", ErrNotRunning, svc.ID, svc.State)
	}
	return svc.Node, nil
}

// ServiceEndpoint returns the service's main address as an http URL,
// "http://node2:18080", with the port its job actually bound.
func (s *Servers) ServiceEndpoint(ctx context.Context, id string) (string, error) {
	svc, err := s.CheckServiceStatus(ctx, id)
	if err != nil {
		return "", err
	}
	if svc.Node == "" || !svc.State.Active() {
		return "", fmt.Errorf("%w: %s is %s", ErrNotRunning, svc.ID, svc.State)
	}
	if svc.Port == 0 {
		return "", fmt.Errorf("%w: %s", ErrNoPort, svc.ID)
	}
	return "http://" + net.JoinHostPort(svc.Node, strconv.Itoa(svc.Port)), nil
}

// lookup finds the service an ID or job id names, and its job, without
// its status file. With Options.Session set, another session's service is
// a *SessionError.
func (s *Servers) lookup(ctx context.Context, idOrJobID string) (*Service, slurm.Job, error) {
	svc, job, err := s.find(ctx, idOrJobID)
	if err != nil {
		return nil, slurm.Job{}, err
	}
	if s.opts.Session != "" && svc.Session != s.opts.Session {
		return nil, slurm.Job{}, &SessionError{ID: svc.ID, JobID: svc.JobID,
			Session: svc.Session, Want: s.opts.Session}
	}
	return svc, job, nil
}

// find finds the service an ID or job id names, of any session.
func (s *Servers) find(ctx context.Context, idOrJobID string) (*Service, slurm.Job, error) {
	root, err := s.root(ctx)
	if err != nil {
		return nil, slurm.Job{}, err
	}
	if isJobID(idOrJobID) {
		return s.lookupJobID(ctx, root, idOrJobID)
	}
	id := idOrJobID
	if !validLabel(id) || !strings.Contains(id, "_") {
		return nil, slurm.Job{}, fmt.Errorf("%w: %q is neither a service ID nor a job id",
			ErrNotFound, id)
	}

	jobs, err := s.sched.List(ctx)
	if err != nil {
		return nil, slurm.Job{}, fmt.Errorf("servers: look up %s: %w", id, err)
	}
	for _, j := range jobs {
		if k, session, ok := parseComment(j.Comment); ok && j.Name == id {
			svc := fromJob(j, k, session, root)
			return &svc, j, nil
		}
	}

	// Not in the queue any more: the run folder says which job it was.
	rec, jobID, err := s.readRecord(ctx, path.Join(root, id))
	if err != nil {
		return nil, slurm.Job{}, err
	}
	if rec == nil || jobID == "" {
		return nil, slurm.Job{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	job := slurm.Job{ID: jobID, Name: id, State: slurm.StateUnknown}
	if m, err := s.sched.Status(ctx, []string{jobID}); err == nil && m[jobID].Found {
		job = m[jobID]
	} else if err != nil {
		return nil, slurm.Job{}, fmt.Errorf("servers: look up %s (job %s): %w", id, jobID, err)
	}
	svc := fromJob(job, rec.Kind, rec.Session, root)
	svc.Name = rec.Service.Name
	return &svc, job, nil
}

// lookupJobID finds the service of a numeric job id.
func (s *Servers) lookupJobID(ctx context.Context, root, jobID string,
) (*Service, slurm.Job, error) {
	m, err := s.sched.Status(ctx, []string{jobID})
	if err != nil {
		return nil, slurm.Job{}, fmt.Errorf("servers: look up job %s: %w", jobID, err)
	}
	j := m[jobID]
	if !j.Found {
		return nil, slurm.Job{}, fmt.Errorf("%w: job %s", ErrNotFound, jobID)
	}
	if k, session, ok := parseComment(j.Comment); ok {
		svc := fromJob(j, k, session, root)
		return &svc, j, nil
	}
	if j.Comment != "" || !validLabel(j.Name) {
		return nil, slurm.Job{}, fmt.Errorf("%w: job %s (%s)", ErrNotHpcorch, jobID, j.Name)
	}

	// sacct may keep no comment: the run folder tells.
	rec, recJobID, err := s.readRecord(ctx, path.Join(root, j.Name))
	if err != nil {
		return nil, slurm.Job{}, err
	}
	if rec == nil || recJobID != jobID {
		return nil, slurm.Job{}, fmt.Errorf("%w: job %s (%s)", ErrNotHpcorch, jobID, j.Name)
	}
	svc := fromJob(j, rec.Kind, rec.Session, root)
	svc.Name = rec.Service.Name
	return &svc, j, nil
}

// readRecord reads service.json and the job id from a run folder. It
// returns a nil record when the folder has none.
func (s *Servers) readRecord(ctx context.Context, dir string) (*record, string, error) {
	q := sshx.Quote
	cmd := "cat " + q(path.Join(dir, jobIDFile)) + " 2>/dev/null; echo; echo '\x1e'; cat " +
		q(path.Join(dir, serviceFile)) + " 2>/dev/null; true"
	out, _, err := s.exec.Run(ctx, cmd, nil)
	if err != nil {
		return nil, "", fmt.Errorf("servers: read %s: %w", dir, err)
	}
	idPart, recPart, _ := strings.Cut(string(out), "\x1e\n")
	if strings.TrimSpace(recPart) == "" {
		return nil, "", nil
	}
	var rec record
	if err := json.Unmarshal([]byte(recPart), &rec); err != nil {
		return nil, "", fmt.Errorf("servers: %s: %w", path.Join(dir, serviceFile), err)
	}
	return &rec, strings.TrimSpace(idPart), nil
}

// statuses maps a service ID to its status file's KEY=VALUE pairs.
type statuses map[string]map[string]string

// readStatuses reads the status files of the services ids under root with
// one command.
func (s *Servers) readStatuses(ctx context.Context, root string, ids []string) (statuses, error) {
	var b strings.Builder
	b.WriteString("cd " + sshx.Quote(root) + " 2>/dev/null || exit 0\nfor d in")
	for _, id := range ids {
		b.WriteString(" " + sshx.Quote(id))
	}
	b.WriteString("; do printf '\\036%s\\n' \"$d\"; ")
	b.WriteString("cat \"$d/" + statusFile + "\" 2>/dev/null; done; true")
	out, _, err := s.exec.Run(ctx, b.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("servers: read status files: %w", err)
	}
	return parseStatuses(out), nil
}

// parseStatuses parses the output of readStatuses: a "\x1e<id>" line
// before each service's KEY=VALUE lines.
func parseStatuses(out []byte) statuses {
	res := statuses{}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "\x1e"); ok {
			cur = map[string]string{}
			res[id] = cur
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && cur != nil {
			cur[k] = v
		}
	}
	return res
}

// fromJob makes a Service from what the scheduler says of its job.
func fromJob(j slurm.Job, kind Kind, session, root string) Service {
	svc := Service{
		ID:      j.Name,
		JobID:   j.ID,
		Kind:    kind,
		Name:    nameOf(j.Name),
		Session: session,
		State:   j.State,
		Reason:  j.Reason,
		Nodes:   j.Nodes,
		Elapsed: j.Elapsed,
		RunDir:  path.Join(root, j.Name),
		Output:  path.Join(root, j.Name, outputFile),
	}
	if len(j.Nodes) > 0 {
		svc.Node = j.Nodes[0]
	}
	return svc
}

// apply fills in what the job's status file says.
func (svc *Service) apply(st map[string]string) {
	if st == nil {
		return
	}
	if svc.Node == "" && svc.State.Active() {
		svc.Node = st["NODE"]
	}
	svc.Port, _ = strconv.Atoi(st["PORT"])
	svc.Ports = nil
	for _, f := range strings.Split(st["PORTS"], ",") {
		if p, err := strconv.Atoi(f); err == nil {
			svc.Ports = append(svc.Ports, p)
		}
	}
	if name := st["NAME"]; name != "" {
		svc.Name = name
	}
	svc.CAdvisorPort, _ = strconv.Atoi(st["CADVISOR_PORT"])
	svc.CgroupID = st["CGROUP"]
}

// nameOf returns the prefix of an ID, the part before "_<8 hex>".
func nameOf(id string) string {
	i := strings.LastIndexByte(id, '_')
	if i < 0 {
		return id
	}
	return id[:i]
}

// isJobID reports whether s is a plain numeric job id.
func isJobID(s string) bool {
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

// lessJobID orders job ids numerically, then as text.
func lessJobID(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 == nil && err2 == nil {
		return x < y
	}
	return a < b
}
