package servers

import (
	_ "embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// jobLibrary is the shell code every job script carries: status file,
// traps, port choice, cAdvisor and image handling. Values reach it only as
// quoted arguments.
//
//go:embed lib.sh
var jobLibrary string

// Names of the files in a run folder.
const (
	statusFile  = "status.env"
	serviceFile = "service.json"
	jobIDFile   = "jobid"
	outputFile  = "job.out"
)

// plan is everything a job script is made from, resolved and checked.
type plan struct {
	id      string
	kind    Kind
	session string
	runRoot string // absolute
	runDir  string // absolute
	svc     recipe.Service
	argv    []string // the command and its arguments, as recipe values
	// runscript runs the image's runscript with argv as its arguments.
	runscript bool
	env       map[string]string

	cadvisorBin    string // as a shell word
	cadvisorURL    string
	cadvisorSHA256 string
}

// comment returns the job comment that tags an hpcorch job.
func comment(kind Kind, session string) string {
	if session == "" {
		return "hpcorch:" + string(kind)
	}
	return "hpcorch:" + string(kind) + ":" + session
}

// parseComment takes a job comment apart; ok is false for a job hpcorch
// did not tag.
func parseComment(c string) (kind Kind, session string, ok bool) {
	parts := strings.SplitN(strings.TrimSpace(c), ":", 3)
	if len(parts) < 2 || parts[0] != "hpcorch" {
		return "", "", false
	}
	if len(parts) == 3 {
		session = parts[2]
	}
	return Kind(parts[1]), session, true
}

// spec returns the JobSpec for p: the recipe's resources, hpcorch's name,
// comment, output and folder, and the script body.
func (p *plan) spec() (slurm.JobSpec, error) {
	res := p.svc.Resources
	limit, err := res.Time.Duration()
	if err != nil {
		return slurm.JobSpec{}, fmt.Errorf("servers: %s: resources.time: %w", p.id, err)
	}
	body, err := p.script()
	if err != nil {
		return slurm.JobSpec{}, err
	}
	return slurm.JobSpec{
		Name:          p.id,
		Comment:       comment(p.kind, p.session),
		Script:        body,
		Partition:     res.Partition,
		Account:       res.Account,
		QOS:           res.QOS,
		Time:          limit,
		Nodes:         res.Nodes,
		NTasks:        res.NTasks,
		NTasksPerNode: res.NTasksPerNode,
		CPUsPerTask:   res.CPUsPerTask,
		Mem:           res.MemArg(),
		Gres:          res.Gres,
		NodeList:      res.NodeList,
		Output:        path.Join(p.runDir, outputFile),
		WorkDir:       p.runDir,
	}, nil
}

// gpu reports whether the job asks for GPUs.
func (p *plan) gpu() bool {
	return strings.Contains(strings.ToLower(p.svc.Resources.Gres), "gpu")
}

// script returns the body of the batch script.
func (p *plan) script() (string, error) {
	var b strings.Builder
	q := sshx.Quote
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	line("# hpcorch %s %s (session %s)", p.kind, p.id, q(p.session))
	line("HPCORCH_ID=%s", q(p.id))
	line("HPCORCH_KIND=%s", q(string(p.kind)))
	line("HPCORCH_RUN_ROOT=%s", q(p.runRoot))
	line("HPCORCH_RUN_DIR=%s", q(p.runDir))
	line("readonly HPCORCH_ID HPCORCH_KIND HPCORCH_RUN_ROOT HPCORCH_RUN_DIR")
	b.WriteString(jobLibrary)
	line("")
	line("mkdir -p \"$HPCORCH_RUN_DIR\" && cd \"$HPCORCH_RUN_DIR\" || exit 1")
	line("hpcorch_status VERSION 1 ID \"$HPCORCH_ID\" NAME %s JOB_ID \"$HPCORCH_JOB\" "+
		"NODE \"$HPCORCH_NODE\" CGROUP \"$(hpcorch_cgroup)\" ATTEMPT \"${HPCORCH_ATTEMPT:-1}\" "+
		"PHASE preparing", q(p.svc.Name))

	p.writePorts(line)
	if p.svc.EnableCAdvisor {
		line("")
		line("# cAdvisor, beside the service")
		line("HPCORCH_CADVISOR=%s", p.cadvisorBin)
		line("if hpcorch_cadvisor_install \"$HPCORCH_CADVISOR\" %s %s; then",
			q(p.cadvisorURL), q(p.cadvisorSHA256))
		line("\thpcorch_cadvisor_start \"$HPCORCH_CADVISOR\" \"$HPCORCH_CADVISOR_PORT\" ||")
		line("\t\thpcorch_log \"continuing without cAdvisor\"")
		line("else")
		line("\thpcorch_log \"continuing without cAdvisor\"")
		line("fi")
	}

	if err := p.writeService(&b, line); err != nil {
		return "", err
	}
	return b.String(), nil
}

// writePorts writes the port choice: every port of the recipe and
// cAdvisor's, under the node's lock.
func (p *plan) writePorts(line func(string, ...any)) {
	if len(p.svc.Ports) == 0 && !p.svc.EnableCAdvisor {
		return
	}
	line("")
	line("# ports: the recipe's when free on this node, else free ones")
	line("hpcorch_lock_ports")
	var ports []string
	flexible := 0
	for i, port := range p.svc.Ports {
		flex := "0"
		if p.flexible(i) {
			flex, flexible = "1", flexible+1
		}
		line("hpcorch_pick %d %s || exit 1", port, flex)
		line("HPCORCH_PORT_%d=$HPCORCH_PICKED", i)
		ports = append(ports, fmt.Sprintf("$HPCORCH_PORT_%d", i))
	}
	if p.svc.EnableCAdvisor {
		line("hpcorch_pick %d 1 || exit 1", p.svc.CAdvisorPortOrDefault())
		line("HPCORCH_CADVISOR_PORT=$HPCORCH_PICKED")
	}
	line("hpcorch_unlock_ports")
	if len(ports) > 0 && flexible == len(ports) {
		line("HPCORCH_PORTS_FLEXIBLE=1 # a port taken after this choice is chosen again")
	}
	if len(ports) > 0 {
		line("HPCORCH_PORT=$HPCORCH_PORT_0")
		line("hpcorch_status PORT \"$HPCORCH_PORT\" PORTS \"%s\"", strings.Join(ports, ","))
	}
}

// flexible reports whether the service reads its i-th port from
// HPCORCH_PORT_i (or HPCORCH_PORT for the first), so that the job may give
// it another one than the recipe's.
func (p *plan) flexible(i int) bool {
	vals := append([]string{}, p.argv...)
	for _, v := range p.env {
		vals = append(vals, v)
	}
	if mentions("HPCORCH_PORT_"+strconv.Itoa(i), vals...) {
		return true
	}
	return i == 0 && mentions("HPCORCH_PORT", vals...)
}

// writeService writes the environment and the command that runs the
// service, bare or under Apptainer.
func (p *plan) writeService(b *strings.Builder, line func(string, ...any)) error {
	q := sshx.Quote
	line("")
	line("# the service")
	line("hpcorch_status PHASE starting")
	exports := []string{}
	for i := range p.svc.Ports {
		exports = append(exports, fmt.Sprintf("HPCORCH_PORT_%d", i))
	}
	if len(p.svc.Ports) > 0 {
		exports = append(exports, "HPCORCH_PORT")
	}
	if p.svc.EnableCAdvisor {
		exports = append(exports, "HPCORCH_CADVISOR_PORT")
	}
	for _, name := range exports {
		line("hpcorch_env %s \"$%s\"", name, name)
	}

	names := make([]string, 0, len(p.env))
	for k := range p.env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !isName(k) {
			return fmt.Errorf("servers: environment name %q is not a shell name", k)
		}
		if owner := recipe.ReservedEnv(k); owner != "" {
			return fmt.Errorf("servers: environment name %s is set by %s for the job, "+
				"not by the service", k, owner)
		}
		w, err := shellWord(p.env[k])
		if err != nil {
			return err
		}
		line("hpcorch_env %s %s", k, w)
	}

	args, err := shellWords(p.argv)
	if err != nil {
		return err
	}
	if p.svc.Kind() == recipe.KindBare {
		if len(p.argv) == 0 {
			return fmt.Errorf("servers: %s: no command to run", p.id)
		}
		line("hpcorch_run %s", args)
		return nil
	}

	img, err := shellWord(p.svc.ImagePath())
	if err != nil {
		return err
	}
	line("HPCORCH_IMAGE=%s", img)
	src := ""
	if p.svc.Container != nil {
		src = p.svc.Container.Source()
	}
	line("hpcorch_image \"$HPCORCH_IMAGE\" %s || exit 1", q(src))
	line("mkdir -p \"$HPCORCH_RUN_DIR/tmp\" && export APPTAINER_TMPDIR=\"$HPCORCH_RUN_DIR/tmp\"")

	opts := []string{}
	if p.gpu() {
		opts = append(opts, "--nv")
	}
	if p.svc.Container != nil {
		for _, raw := range p.svc.Container.BindMounts {
			w, err := bindWord(raw)
			if err != nil {
				return err
			}
			opts = append(opts, "--bind "+w)
		}
	}
	opts = append(opts, `"${HPCORCH_APPTAINER_ENV[@]}"`, `"$HPCORCH_IMAGE"`)
	verb := "exec"
	if p.runscript {
		verb = "run"
	}
	cmd := "hpcorch_run apptainer " + verb + " " + strings.Join(opts, " ")
	if args != "" {
		cmd += " " + args
	}
	line("%s", cmd)
	return nil
}

// bindWord turns a recipe bind "src[:dst[:opts]]" into one shell word,
// its paths expanded by the job's shell.
func bindWord(raw string) (string, error) {
	bd, err := recipe.ParseBind(raw)
	if err != nil {
		return "", fmt.Errorf("servers: bind %q: %w", raw, err)
	}
	src, err := shellWord(bd.Source)
	if err != nil {
		return "", err
	}
	dst, err := shellWord(bd.Dest)
	if err != nil {
		return "", err
	}
	w := src + ":" + dst
	if bd.Options != "" {
		w += ":" + bd.Options
	}
	return w, nil
}
