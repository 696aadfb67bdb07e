package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/hpcorch/hpcorch/orchestrator"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/recipes"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

// cli runs one parsed invocation.
type cli struct {
	inv         *invocation
	stdout      io.Writer
	stderr      io.Writer
	progressTTY bool // rewrite the progress line in place

	o *orchestrator.Orchestrator
}

// run dispatches the action. Every action but --list-recipes opens the
// cluster config first.
func (c *cli) run(ctx context.Context) error {
	if c.inv.action == "list-recipes" {
		return c.listRecipes()
	}

	if err := c.open(ctx); err != nil {
		return err
	}
	defer c.o.Close()

	switch c.inv.action {
	case "recipe":
		return c.startRecipe(ctx, c.inv.args[0])
	case "status":
		return c.status(ctx)
	case "stop-service":
		return c.stopService(ctx, c.inv.args[0])
	case "stop-all-services":
		return c.stopAll(ctx)
	case "create-tunnel":
		return c.createTunnel(ctx)
	case "query-metrics":
		return c.queryMetrics(ctx, c.inv.args[0], c.inv.args[1])
	case "list-available-metrics":
		return c.listMetrics(ctx, c.inv.args[0])
	case "service-endpoint":
		return c.endpoint(ctx, c.inv.args[0])
	case "credentials":
		return c.credentials(ctx, c.inv.args[0])
	case "report":
		return c.report(ctx, c.inv.args[0], c.inv.args[1])
	case "collect-metrics":
		return c.collect(ctx, c.inv.args[0], c.inv.args[1], c.inv.args[2])
	case "logs":
		return c.logs(ctx, c.inv.args[0])
	case "install-cadvisor":
		return c.installCAdvisor(ctx)
	case "build-image", "upload-image":
		return c.image(ctx, c.inv.args)
	}
	return fmt.Errorf("action --%s is not implemented", c.inv.action)
}

// open reads the config and connects.
func (c *cli) open(ctx context.Context) error {
	cfg, err := orchestrator.LoadConfig(c.inv.config)
	if err != nil {
		if !c.inv.configSet && errors.Is(err, orchestrator.ErrNoConfig) {
			return fmt.Errorf("no config.yaml in this folder: write one (see hpcorch " +
				"--help) or pass --config FILE; for jobs on this machine it may say " +
				"just executor: local")
		}
		return err
	}
	ask := ttyPrompter()
	base := orchestrator.Config{Session: c.inv.session,
		Passphrase: ask.passphrase, KeyboardInteractive: ask.challenge}
	if c.inv.action == "install-cadvisor" && len(c.inv.args) == 1 {
		base.CAdvisor.LocalPath = c.inv.args[0]
	}
	c.o, err = orchestrator.OpenConfig(ctx, cfg, base)
	return err
}

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ---------------------------------------------------------------- recipes

// recipeInfo is one line of --list-recipes.
type recipeInfo struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Monitor     bool   `json:"monitor"`
	CAdvisor    bool   `json:"cadvisor"`
	Description string `json:"description"`
}

func (c *cli) listRecipes() error {
	var infos []recipeInfo
	for _, name := range recipes.List() {
		r, err := recipes.Load(name)
		if err != nil {
			return err
		}
		s := &r.Service
		infos = append(infos, recipeInfo{Name: name, Kind: string(s.Kind()),
			Monitor: s.IsMonitor(), CAdvisor: s.EnableCAdvisor, Description: s.Description})
	}
	if c.inv.json {
		return c.printJSON(infos)
	}

	width := 0
	for _, i := range infos {
		width = max(width, len(i.Name))
	}
	fmt.Fprintln(c.stdout, "Recipes (use the name, or recipes/services/NAME.yaml, with --recipe):")
	for _, i := range infos {
		fmt.Fprintf(c.stdout, "   %-*s  %s\n", width, i.Name, i.Description)
	}
	return nil
}

// ---------------------------------------------------------------- start

// started is the JSON form of --recipe's result.
type started struct {
	ID       string `json:"id"`
	JobID    string `json:"job_id"`
	Kind     string `json:"kind"`
	Ready    bool   `json:"ready"`
	Node     string `json:"node,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
}

func (c *cli) startRecipe(ctx context.Context, path string) error {
	r, err := c.o.LoadRecipe(path)
	if err != nil {
		return err
	}
	if c.inv.dryRun {
		return c.dryRun(ctx, r)
	}

	var out started
	if r.Service.IsMonitor() {
		mon, err := c.o.Monitors.StartMonitor(ctx, r)
		if err != nil {
			return err
		}
		out = started{ID: mon.ID, JobID: mon.JobID, Kind: string(servers.KindMonitor)}
	} else {
		svc, err := c.o.Servers.StartService(ctx, r)
		if err != nil {
			return err
		}
		out = started{ID: svc.ID, JobID: svc.JobID, Kind: string(svc.Kind)}
	}
	if !c.inv.json {
		fmt.Fprintf(c.stdout, "Service started: %s\n", out.ID)
	}
	if !c.inv.wait {
		if c.inv.json {
			return c.printJSON(out)
		}
		return nil
	}

	wctx, cancel := context.WithTimeout(ctx, c.inv.timeout)
	defer cancel()
	p := newProgress(c.stderr, c.progressTTY)
	svc, err := c.o.WaitReady(wctx, out.ID, p.report)
	p.done()
	if err != nil {
		return c.stillActive(ctx, out.ID, err)
	}

	out.Ready, out.Node = true, svc.Node
	if svc.Port != 0 {
		out.Endpoint = fmt.Sprintf("http://%s:%d", svc.Node, svc.Port)
	}
	if c.inv.json {
		return c.printJSON(out)
	}
	fmt.Fprintf(c.stdout, "Service ready: %s on %s", out.ID, out.Node)
	if out.Endpoint != "" {
		fmt.Fprintf(c.stdout, " at %s", out.Endpoint)
	}
	fmt.Fprintln(c.stdout)
	return nil
}

// stillActive adds to err, the failure of --wait, a hint that the job
// id is still active and how to stop it, when it is.
func (c *cli) stillActive(ctx context.Context, id string, err error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	svc, serr := c.o.Servers.CheckServiceStatus(sctx, id)
	if serr != nil || !svc.State.Active() {
		return err
	}
	return &hintError{err: err, hint: fmt.Sprintf("(job %s is still %s: hpcorch --stop-service %s)",
		svc.JobID, svc.State, svc.ID)}
}

// hintError is an error with a hint at the end of its first line; the
// lines after it (a job's log) stay after it.
type hintError struct {
	err  error
	hint string
}

// Error returns the error's message with the hint.
func (e *hintError) Error() string {
	first, rest, more := strings.Cut(e.err.Error(), "\n")
	msg := first + " " + e.hint
	if more {
		msg += "\n" + rest
	}
	return msg
}

// Unwrap returns the error the hint is about.
func (e *hintError) Unwrap() error { return e.err }

func (c *cli) dryRun(ctx context.Context, r *recipe.Recipe) error {
	if r.Service.IsMonitor() {
		return c.dryRunMonitor(ctx, r)
	}
	script, err := c.o.Servers.DryRun(ctx, r)
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string]string{"script": script})
	}
	fmt.Fprint(c.stdout, script)
	if !strings.HasSuffix(script, "\n") {
		fmt.Fprintln(c.stdout)
	}
	return nil
}

// dryRunMonitor prints a monitor's batch script, then each file it would
// write (prometheus.yml, the targets files), then what it could not
// resolve.
func (c *cli) dryRunMonitor(ctx context.Context, r *recipe.Recipe) error {
	out, err := c.o.Monitors.DryRun(ctx, r)
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string]any{"script": out.Script, "files": out.Files,
			"notes": out.Notes})
	}
	fmt.Fprint(c.stdout, out.Script)
	names := make([]string, 0, len(out.Files))
	for name := range out.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(c.stdout, "\n# ---- %s ----\n%s", name, out.Files[name])
	}
	for _, n := range out.Notes {
		fmt.Fprintf(c.stderr, "note: %s\n", n)
	}
	return nil
}

// ---------------------------------------------------------------- status

// job is the JSON form of one service or monitor.
type job struct {
	JobID          string  `json:"job_id"`
	ID             string  `json:"id"`
	Kind           string  `json:"kind"`
	State          string  `json:"state"`
	Reason         string  `json:"reason,omitempty"`
	Elapsed        string  `json:"elapsed"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Node           string  `json:"node,omitempty"`
	Port           int     `json:"port,omitempty"`
	CAdvisorPort   int     `json:"cadvisor_port,omitempty"`
	Cgroup         string  `json:"cgroup,omitempty"`
	Session        string  `json:"session,omitempty"`
}

func jobOf(s servers.Service) job {
	return job{JobID: s.JobID, ID: s.ID, Kind: string(s.Kind), State: s.State.String(),
		Reason: s.Reason, Elapsed: orchestrator.FormatElapsed(s.Elapsed),
		ElapsedSeconds: s.Elapsed.Seconds(), Node: s.Node, Port: s.Port,
		CAdvisorPort: s.CAdvisorPort, Cgroup: s.CgroupID, Session: s.Session}
}

func (c *cli) status(ctx context.Context) error {
	st, err := c.o.SystemStatus(ctx)
	if err != nil {
		return err
	}
	if c.inv.json {
		out := struct {
			Connection orchestrator.Connection      `json:"connection"`
			Services   []job                        `json:"services"`
			Monitors   []job                        `json:"monitors"`
			Sessions   []orchestrator.SessionStatus `json:"sessions"`
		}{Connection: st.Connection, Services: []job{}, Monitors: []job{}, Sessions: st.Sessions}
		for _, s := range st.Services {
			out.Services = append(out.Services, jobOf(s))
		}
		for _, m := range st.Monitors {
			out.Monitors = append(out.Monitors, jobOf(m))
		}
		return c.printJSON(out)
	}

	// The reference lists Prometheus among the services: one table, by job id.
	all := append(append([]servers.Service(nil), st.Services...), st.Monitors...)
	sort.SliceStable(all, func(i, j int) bool { return lessJobID(all[i].JobID, all[j].JobID) })
	orchestrator.WriteTable(c.stdout, "Services", all)
	return nil
}

// lessJobID orders job ids numerically when they are numbers.
func lessJobID(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// ---------------------------------------------------------------- stop

func (c *cli) stopService(ctx context.Context, id string) error {
	svc, err := c.o.Servers.CheckServiceStatus(ctx, id)
	if err != nil {
		return err
	}
	if ended := !svc.State.Active() || svc.State == slurm.StateCompleting; ended {
		// Not an error: what was asked for is already so.
		if c.inv.json {
			return c.printJSON(map[string]any{"stopped": []string{},
				"already_ended": []job{jobOf(*svc)}})
		}
		fmt.Fprintf(c.stdout, "Service %s already ended (%s)\n", svc.ID, svc.State)
		return nil
	}

	if svc.Kind == servers.KindMonitor {
		err = c.o.Monitors.StopMonitor(ctx, svc.ID)
	} else {
		err = c.o.Servers.StopService(ctx, svc.ID)
	}
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string][]string{"stopped": {svc.ID}})
	}
	fmt.Fprintf(c.stdout, "Service stopped: %s\n", svc.ID)
	return nil
}

// stopAll stops every service and every monitor: the reference's
// --stop-all-services stops Prometheus too. Jobs already ending
// (COMPLETING) are left to end.
func (c *cli) stopAll(ctx context.Context) error {
	st, err := c.o.SystemStatus(ctx)
	if err != nil {
		return err
	}

	stopped := []string{}
	var errs []error
	stop := func(svc servers.Service, f func(context.Context, string) error) {
		if svc.State == slurm.StateCompleting {
			return
		}
		if err := f(ctx, svc.ID); err != nil {
			errs = append(errs, err)
			return
		}
		stopped = append(stopped, svc.ID)
	}
	for _, m := range st.Monitors {
		stop(m, c.o.Monitors.StopMonitor)
	}
	for _, s := range st.Services {
		stop(s, c.o.Servers.StopService)
	}

	if c.inv.json {
		if err := c.printJSON(map[string][]string{"stopped": stopped}); err != nil {
			return err
		}
	} else {
		for _, id := range stopped {
			fmt.Fprintf(c.stdout, "Service stopped: %s\n", id)
		}
		if len(stopped) == 0 {
			fmt.Fprintln(c.stdout, "No services running.")
		}
	}
	return errors.Join(errs...)
}

// ---------------------------------------------------------------- endpoints and logs

func (c *cli) endpoint(ctx context.Context, id string) error {
	ep, err := c.o.Servers.ServiceEndpoint(ctx, id)
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string]string{"id": id, "endpoint": ep})
	}
	fmt.Fprintln(c.stdout, ep)
	return nil
}

// image builds (one argument) or uploads (a recipe and a local SIF) the
// image of a recipe, before any job needs it.
func (c *cli) image(ctx context.Context, args []string) error {
	r, err := c.o.LoadRecipe(args[0])
	if err != nil {
		return err
	}
	var path, verb string
	if len(args) == 2 {
		path, err = c.o.Servers.UploadImage(ctx, r, args[1])
		verb = "uploaded"
	} else {
		path, err = c.o.Servers.BuildImage(ctx, r)
		verb = "ready"
	}
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string]string{"recipe": args[0], "image": path})
	}
	fmt.Fprintf(c.stdout, "Image %s: %s\n", verb, path)
	return nil
}

// credentials prints the login a monitor's Prometheus asks for, on
// request only: nothing else the CLI prints holds the password.
func (c *cli) credentials(ctx context.Context, id string) error {
	user, pw, err := c.o.Monitors.Credentials(ctx, id)
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string]string{"id": id, "user": user, "password": pw})
	}
	fmt.Fprintf(c.stdout, "%s:%s\n", user, pw)
	return nil
}

func (c *cli) logs(ctx context.Context, id string) error {
	text, err := c.o.Servers.ServiceLogs(ctx, id, c.inv.lines)
	if err != nil {
		return err
	}
	if c.inv.json {
		// Scripts get the service ID, also when they gave a job id.
		svc, err := c.o.Servers.CheckServiceStatus(ctx, id)
		if err != nil {
			return err
		}
		return c.printJSON(map[string]string{"id": svc.ID, "job_id": svc.JobID, "logs": text})
	}
	fmt.Fprint(c.stdout, text)
	if text != "" && !strings.HasSuffix(text, "\n") {
		fmt.Fprintln(c.stdout)
	}
	return nil
}

func (c *cli) installCAdvisor(ctx context.Context) error {
	path, err := c.o.Servers.InstallCAdvisor(ctx)
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string]string{"path": path})
	}
	fmt.Fprintf(c.stdout, "cAdvisor installed: %s\n", path)
	return nil
}
