package recipe

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
)

// validator collects the problems of a decoded recipe or config, placing
// each at the position its path had in the file.
type validator struct {
	file string
	pos  map[string]position
	skip map[string]bool // paths the decoder already reported
	errs []error
}

func newValidator(file string, pos map[string]position, skip map[string]bool) *validator {
	return &validator{file: file, pos: pos, skip: skip}
}

// fail records err for path, unless the decoder already reported a problem
// at path or at one of its parents.
func (v *validator) fail(path string, err error) {
	for p := path; ; p = parent(p) {
		if v.skip[p] {
			return
		}
		if p == "" {
			break
		}
	}

	fe := &FieldError{File: v.file, Path: path, Err: err}
	for p := path; ; p = parent(p) {
		if at, ok := v.pos[p]; ok {
			fe.Line, fe.Column = at.line, at.col
			break
		}
		if p == "" {
			break
		}
	}
	v.errs = append(v.errs, fe)
}

// optionalPort checks a port field whose zero value means a default: left
// out, it is fine; given, even as 0, it must be a port, as in ports.
func (v *validator) optionalPort(path string, p Port, def string) {
	if _, given := v.pos[path]; p == 0 && !given {
		return
	}
	if err := portError(p); err != nil {
		if p == 0 {
			err = fmt.Errorf("%w (leave it out for %s)", err, def)
		}
		v.fail(path, err)
	}
}

// check records err for path when err is not nil.
func (v *validator) check(path string, err error) {
	if err != nil {
		v.fail(path, err)
	}
}

// parent drops the last element of a path: "a.b[2]" gives "a.b", "a.b"
// gives "a", "a" gives "".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// Validate checks a recipe and reports every problem, each as a
// *FieldError, joined with errors.Join. For a recipe from Load or Decode
// the errors carry file positions. Validate does not change r.
func (r *Recipe) Validate() error {
	v := newValidator(r.file, r.pos, nil)
	r.validate(v)
	return joinSorted(v.errs)
}

func (r *Recipe) validate(v *validator) {
	r.Service.validate(v, "service")
}

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	gresRe    = regexp.MustCompile(
		`^[A-Za-z][A-Za-z0-9_]*(:[A-Za-z0-9_.-]+)*(,[A-Za-z][A-Za-z0-9_]*(:[A-Za-z0-9_.-]+)*)*$`)
	hostlistRe = regexp.MustCompile(`^[A-Za-z0-9_.+:\[\],-]+$`)
	hostRe     = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
)

func (s *Service) validate(v *validator, path string) {
	switch {
	case s.Name == "":
		v.fail(path+".name", errorf(ErrMissing, "a service needs a name"))
	case !nameRe.MatchString(s.Name):
		v.fail(path+".name", errorf(ErrInvalid, "name %q may hold only letters, digits, "+
			"_, - and . (at most 64, starting with a letter or digit)", s.Name))
	}

	if strings.ContainsAny(s.Command, " \t\n") {
		v.fail(path+".command", errorf(ErrInvalid, "command %q holds spaces; put the "+
			"program in command and each argument in args", s.Command))
	} else {
		v.check(path+".command", checkShellWord(s.Command))
	}
	for i, a := range s.Args {
		v.check(fmt.Sprintf("%s.args[%d]", path, i), checkShellWord(a))
	}
	if s.ContainerImage != "" {
		v.check(path+".container_image", checkPath(s.ContainerImage))
	}
	if s.Container != nil {
		s.Container.validate(v, path+".container", s.ContainerImage != "")
	}
	v.optionalPort(path+".cadvisor_port", s.CAdvisorPort,
		fmt.Sprintf("cAdvisor's default, %d", DefaultCAdvisorPort))

	s.Resources.validate(v, path+".resources")
	validateEnv(v, path+".environment", s.Environment)
	s.validatePorts(v, path)
	if s.HealthCheck != nil {
		s.HealthCheck.validate(v, path+".health_check", len(s.Ports) > 0)
	}
	for i, t := range s.MonitoringTargets {
		t.validate(v, fmt.Sprintf("%s.monitoring_targets[%d]", path, i))
	}
	s.validateMonitor(v, path)
}

func (s *Service) validatePorts(v *validator, path string) {
	seen := map[Port]bool{}
	for i, p := range s.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", path, i)
		if err := portError(p); err != nil {
			v.fail(pp, err)
			continue
		}
		if seen[p] {
			v.fail(pp, errorf(ErrInvalid, "port %d is listed twice", p))
		}
		seen[p] = true
	}
	cp := s.CAdvisorPortOrDefault()
	switch {
	case !s.EnableCAdvisor || !seen[cp]:
	case s.CAdvisorPort != 0:
		v.fail(path+".cadvisor_port", errorf(ErrInvalid, "cAdvisor's port %d is also a "+
			"port of the service; set cadvisor_port to another one", cp))
	default:
		// Placed at the port the file has, not at a key it lacks.
		v.fail(fmt.Sprintf("%s.ports[%d]", path, slices.Index(s.Ports, cp)), errorf(ErrInvalid,
			"port %d is cAdvisor's default too; set cadvisor_port to another one", cp))
	}
}

func (s *Service) validateMonitor(v *validator, path string) {
	if s.ScrapeInterval != "" {
		v.check(path+".scrape_interval", checkPromDuration(s.ScrapeInterval))
	}
	if s.Retention != "" {
		v.check(path+".retention", checkPromDuration(s.Retention))
	}
	env, ok := s.Environment[RetentionEnv]
	if !ok {
		return
	}
	envPath := path + ".environment." + RetentionEnv
	if err := checkPromDuration(env); err != nil {
		v.fail(envPath, err)
	} else if s.Retention != "" && s.Retention != env {
		v.fail(path+".retention", errorf(ErrInvalid, "retention %q disagrees with %s %q "+
			"in environment; keep one of them", s.Retention, RetentionEnv, env))
	}
}

func (c *Container) validate(v *validator, path string, hasImage bool) {
	if c.DockerSource != "" {
		v.check(path+".docker_source", checkSource(c.DockerSource))
	}
	switch {
	case c.ImagePath != "":
		v.check(path+".image_path", checkPath(c.ImagePath))
	case !hasImage:
		v.fail(path+".image_path", errorf(ErrMissing, "a container needs image_path: "+
			"where the image is (or is to be built) on the cluster, such as "+
			"$HOME/containers/name.sif"))
	}

	dests := map[string]int{}
	binds := map[int]Bind{}
	for i, b := range c.BindMounts {
		bp := fmt.Sprintf("%s.bind_mounts[%d]", path, i)
		pb, err := ParseBind(b)
		if err != nil {
			v.fail(bp, err)
			continue
		}
		if j, ok := dests[pb.Dest]; ok {
			v.fail(bp, errorf(ErrInvalid, "destination %q is already bound by "+
				"bind_mounts[%d]", pb.Dest, j))
			continue
		}
		dests[pb.Dest] = i
		binds[i] = pb
	}
	for i, b := range binds {
		for j, parent := range binds {
			if i != j && covers(parent, b) {
				v.fail(fmt.Sprintf("%s.bind_mounts[%d]", path, i), errorf(ErrInvalid,
					"bind %q is inside bind_mounts[%d] (%q) already: leave it out",
					c.BindMounts[i], j, c.BindMounts[j]))
			}
		}
	}
}

// covers reports whether bind b adds nothing to parent: its destination
// lies inside parent's, and its source is what parent already shows there,
// with the same options. Apptainer warns about such binds, and some of its
// versions fail on them.
func covers(parent, b Bind) bool {
	rel, ok := strings.CutPrefix(b.Dest, strings.TrimSuffix(parent.Dest, "/")+"/")
	return ok && rel != "" && b.Options == parent.Options &&
		path.Clean(b.Source) == path.Join(parent.Source, rel)
}

// checkPath checks a path on the cluster: no spaces at the ends, no
// command substitution.
func checkPath(p string) error {
	if strings.TrimSpace(p) != p || strings.ContainsAny(p, "\n\r") {
		return errorf(ErrInvalid, "path %q has spaces at an end or a line break", p)
	}
	return checkShellWord(p)
}

// validate checks resources at path; Config reuses it for its slurm
// defaults.
func (r Resources) validate(v *validator, path string) {
	if _, err := r.Time.Duration(); err != nil {
		v.fail(path+".time", err)
	}
	words := []struct{ key, val string }{
		{"partition", r.Partition}, {"account", r.Account}, {"qos", r.QOS},
	}
	for _, w := range words {
		if w.val != "" {
			v.check(path+"."+w.key, checkSlurmWord(w.val))
		}
	}

	counts := []struct {
		key string
		n   int
	}{
		{"nodes", r.Nodes}, {"ntasks", r.NTasks}, {"ntasks_per_node", r.NTasksPerNode},
		{"cpus_per_task", r.CPUsPerTask},
	}
	for _, c := range counts {
		if c.n < 0 {
			v.fail(path+"."+c.key, errorf(ErrInvalid, "%s is %d; it must be positive, "+
				"or left out", c.key, c.n))
		}
	}

	if r.Mem != "" {
		if _, err := ParseMem(r.Mem); err != nil {
			v.fail(path+".mem", err)
		}
	}
	if r.Gres != "" {
		if err := checkSlurmWord(r.Gres); err != nil {
			v.fail(path+".gres", err)
		} else if !gresRe.MatchString(r.Gres) {
			v.fail(path+".gres", errorf(ErrInvalid, "gres %q is not name[:type]:count, "+
				"such as gpu:1", r.Gres))
		}
	}
	if r.NodeList != "" && !hostlistRe.MatchString(r.NodeList) {
		v.fail(path+".nodelist", errorf(ErrInvalid, "nodelist %q is not a SLURM hostlist "+
			"such as node[1-3],gpu01", r.NodeList))
	}
}

func validateEnv(v *validator, path string, env map[string]string) {
	for k, val := range env {
		p := path + "." + k
		if !envNameRe.MatchString(k) {
			v.fail(p, errorf(ErrInvalid, "%q is not a valid variable name: use letters, "+
				"digits and _, not starting with a digit", k))
			continue
		}
		if owner := ReservedEnv(k); owner != "" {
			v.fail(p, errorf(ErrInvalid, "%s is set by %s for the job; a recipe may not "+
				"change it (choose another name)", k, owner))
			continue
		}
		v.check(p, checkShellWord(val))
	}
}

// ReservedEnv returns who sets the environment variable name in a job,
// "hpcorch", "SLURM", "Apptainer" or "the login", when a recipe must not
// set it, and "" otherwise. hpcorch's job script relies on its own
// variables (HPCORCH_RUN_DIR is where it cleans up), and a changed HOME or
// SLURM_JOB_ID would send the job's files, or its cleanup, elsewhere.
func ReservedEnv(name string) string {
	switch up := strings.ToUpper(name); {
	case strings.HasPrefix(up, "HPCORCH_"):
		return "hpcorch"
	case strings.HasPrefix(up, "SLURM_"):
		return "SLURM"
	case strings.HasPrefix(up, "APPTAINER"), strings.HasPrefix(up, "SINGULARITY"):
		return "Apptainer"
	case up == "HOME", up == "USER", up == "LOGNAME":
		return "the login"
	}
	return ""
}

func (h *HealthCheck) validate(v *validator, path string, hasPorts bool) {
	typ := h.EffectiveType()
	switch typ {
	case CheckTCP, CheckHTTP, CheckLog, CheckCommand:
	case "":
		v.fail(path, errorf(ErrMissing, "a health check needs a type (tcp, http, log or "+
			"command) or an endpoint"))
	default:
		v.fail(path+".type", errorf(ErrInvalid, "type %q is not tcp, http, log or command",
			h.Type))
		typ = "" // what depends on the type is left unchecked; the rest is not
	}

	v.optionalPort(path+".port", h.Port, "the service's first port")
	if h.Endpoint != "" && typ != "" {
		v.check(path+".endpoint", checkEndpoint(h.Endpoint, typ))
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		v.fail(path+".path", errorf(ErrInvalid, "path %q must start with /", h.Path))
	}
	if h.Timeout < 0 {
		v.fail(path+".timeout", errorf(ErrInvalid, "timeout %v is negative", h.Timeout))
	}
	if h.Interval < 0 {
		v.fail(path+".interval", errorf(ErrInvalid, "interval %v is negative", h.Interval))
	}

	switch {
	case (typ == CheckTCP || typ == CheckHTTP) && h.Endpoint == "" && h.Port == 0 && !hasPorts:
		v.fail(path+".port", errorf(ErrMissing, "a %s check needs a port, an endpoint, "+
			"or a port in the service's ports", typ))
	case typ == CheckLog && h.Expect == "":
		v.fail(path+".expect", errorf(ErrMissing, "a log check needs expect: the text "+
			"that shows the service is ready"))
	case typ == CheckCommand && len(h.Command) == 0:
		v.fail(path+".command", errorf(ErrMissing, "a command check needs a command"))
	}
	for i, w := range h.Command {
		v.check(fmt.Sprintf("%s.command[%d]", path, i), checkShellWord(w))
	}
}

// checkEndpoint checks a health check endpoint against its type.
func checkEndpoint(ep string, typ CheckType) error {
	if typ == CheckHTTP {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errorf(ErrInvalid, "endpoint %q is not an http:// or https:// URL", ep)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil || host == "" || port == "" {
		return errorf(ErrInvalid, "endpoint %q is not host:port", ep)
	}
	return nil
}

func (t Target) validate(v *validator, path string) {
	switch {
	case t.ServiceID == "" && t.Host == "":
		v.fail(path, errorf(ErrMissing, "a monitoring target needs service_id or host"))
	case t.ServiceID != "" && t.Host != "":
		v.fail(path+".host", errorf(ErrInvalid, "give service_id or host, not both"))
	case t.ServiceID != "" && !nameRe.MatchString(t.ServiceID):
		v.fail(path+".service_id", errorf(ErrInvalid, "service_id %q is not a service ID "+
			"such as ollama_abc123", t.ServiceID))
	case t.Host != "" && !hostRe.MatchString(t.Host):
		v.fail(path+".host", errorf(ErrInvalid, "host %q is not a host name or address",
			t.Host))
	}
	v.optionalPort(path+".port", t.Port, fmt.Sprintf("the default, %d", DefaultCAdvisorPort))
	if strings.ContainsAny(t.JobName, "\n\"'`$\\") {
		v.fail(path+".job_name", errorf(ErrInvalid, "job_name %q holds quotes, $ or a "+
			"line break", t.JobName))
	}
}
