// Command monitor is the reference tool's missing monitor_example.py, in
// Go: it starts a service with cAdvisor, a Prometheus monitor scraping it,
// waits for both, queries Prometheus, collects a metrics file, builds a
// report and stops everything.
//
// On a cluster whose nodes can download images and cAdvisor:
//
//	go run ./examples/monitor -config config.yaml
//
// On the project's throwaway cluster (make cluster-up), whose nodes reach
// no registry, with a config.yaml for it (hpc: hostname 127.0.0.1, port
// 2222, username hpcuser, and the key and known_hosts that
// /opt/hpcorch-cluster/cluster.env names; `make demo` writes one):
//
//	go run ./examples/monitor -config config.yaml \
//		-service mini_http_bare -monitor mini_prometheus \
//		-cadvisor /opt/hpcorch-cluster/bin/cadvisor-upload
//
// Recipes are files or names from the built-in catalog (hpcorch
// --list-recipes). Metric files and the report go to the config's
// metrics_dir.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/orchestrator"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
)

// options are the command's flags.
type options struct {
	config   string
	service  string
	monitor  string
	cadvisor string
	wait     time.Duration
	verbose  bool
}

func main() {
	var o options
	flag.StringVar(&o.config, "config", "config.yaml", "cluster config file")
	flag.StringVar(&o.service, "service", "redis_with_cadvisor",
		"service recipe: a file or a catalog name")
	flag.StringVar(&o.monitor, "monitor", "prometheus",
		"monitor recipe: a file or a catalog name")
	flag.StringVar(&o.cadvisor, "cadvisor", "",
		"a cAdvisor binary on this machine to upload, for nodes that cannot download")
	flag.DurationVar(&o.wait, "timeout", 10*time.Minute, "how long to wait for each step")
	flag.BoolVar(&o.verbose, "v", false, "log what the SDK does to standard error")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "monitor:", err)
		os.Exit(1)
	}
}

// run is the whole example; it prints what it does to w.
func run(ctx context.Context, opt options, w io.Writer) (err error) {
	cfg, err := orchestrator.LoadConfig(opt.config)
	if err != nil {
		return err
	}
	base := orchestrator.Config{CAdvisor: servers.CAdvisorSource{LocalPath: opt.cadvisor}}
	if opt.verbose {
		base.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	o, err := orchestrator.OpenConfig(ctx, cfg, base)
	if err != nil {
		return err
	}
	defer o.Close()

	// 1. A service with cAdvisor beside it.
	svcRecipe, err := o.LoadRecipe(opt.service)
	if err != nil {
		return err
	}
	svcRecipe.Service.EnableCAdvisor = true
	svc, err := o.Servers.StartService(ctx, svcRecipe)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Service started: %s (job %s)\n", svc.ID, svc.JobID)

	// Stop whatever was started, however run ends; a context of its own,
	// since ctx may be what ended.
	var monID string
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if monID != "" {
			err = errors.Join(err, o.Monitors.StopMonitor(sctx, monID))
		}
		err = errors.Join(err, o.Servers.StopService(sctx, svc.ID))
		fmt.Fprintln(w, "Stopped the monitor and the service.")
	}()

	if svc, err = waitReady(ctx, o, svc.ID, opt.wait, w); err != nil {
		return err
	}

	// 2. A monitor scraping the service's cAdvisor.
	monRecipe, err := o.LoadRecipe(opt.monitor)
	if err != nil {
		return err
	}
	monRecipe.Service.MonitoringTargets = append(monRecipe.Service.MonitoringTargets,
		recipe.Target{ServiceID: svc.ID, JobName: svc.Name + "-cadvisor",
			Port: recipe.Port(svc.CAdvisorPort)})
	mon, err := o.Monitors.StartMonitor(ctx, monRecipe)
	if err != nil {
		return err
	}
	monID = mon.ID
	fmt.Fprintf(w, "Monitor started: %s (job %s)\n", mon.ID, mon.JobID)
	if _, err = waitReady(ctx, o, mon.ID, opt.wait, w); err != nil {
		return err
	}
	endpoint, err := o.Monitors.MonitorEndpoint(ctx, mon.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Prometheus at %s (on the cluster)\n", endpoint)

	// 3. Queries: is the target up, and the service job's memory.
	up, err := o.Monitors.ShowMetrics(ctx, mon.ID, "up")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nup:\n%s\n", up)
	mem, err := queryUntilData(ctx, o, mon.ID, memoryQuery(svc), opt.wait)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s:\n%s\n", mem.Query, mem)

	// 4. A metrics file and a report.
	file, err := o.Monitors.CollectMetricsToFile(ctx, mon.ID, "up", "monitor_example_up.json")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nMetrics written: %s\n", file)
	rep, err := reportWithService(ctx, o, mon.ID, svc.ID, opt.wait)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Report written: %s and %s (%d service(s))\n",
		rep.JSONPath, rep.HTMLPath, len(rep.Services))
	return nil
}

// waitReady waits for a service or monitor, printing its progress.
func waitReady(ctx context.Context, o *orchestrator.Orchestrator, id string,
	d time.Duration, w io.Writer) (*servers.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	last := ""
	svc, err := o.WaitReady(ctx, id, func(p orchestrator.Progress) {
		state := p.State.String()
		if p.Node != "" {
			state += " on " + p.Node
		}
		if state != last {
			fmt.Fprintf(w, "  %s: %s (%s)\n", id, state, orchestrator.FormatElapsed(p.Waited))
			last = state
		}
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "Ready: %s on %s\n", id, svc.Node)
	return svc, nil
}

// memoryQuery selects the service job's own memory series, by the cgroup
// its job reported, or every series of its target without one.
func memoryQuery(svc *servers.Service) string {
	if svc.CgroupID != "" {
		return fmt.Sprintf("container_memory_usage_bytes{%s=%q, id=%q}",
			monitors.LabelService, svc.ID, svc.CgroupID)
	}
	return fmt.Sprintf("container_memory_usage_bytes{%s=%q}", monitors.LabelService, svc.ID)
}

// queryUntilData repeats a query until it has data: cAdvisor publishes a
// new job's series at its next housekeeping, up to 10-20 s later.
func queryUntilData(ctx context.Context, o *orchestrator.Orchestrator, id, q string,
	d time.Duration) (*monitors.QueryResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		res, err := o.Monitors.QueryMetrics(ctx, id, q)
		if err != nil {
			return nil, err
		}
		if !res.NoData() {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no data for %s: %w", q, ctx.Err())
		case <-tick.C:
		}
	}
}

// reportWithService builds the report until it covers the service: a
// monitor only seconds old may not have enough samples in its window yet.
func reportWithService(ctx context.Context, o *orchestrator.Orchestrator, monID, svcID string,
	d time.Duration) (*monitors.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		rep, err := o.Monitors.ConstructReport(ctx, monID, "monitor_example_report.json")
		if err != nil {
			return nil, err
		}
		for _, s := range rep.Services {
			if s.Service == svcID {
				return rep, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the report never covered %s: %w", svcID, ctx.Err())
		case <-tick.C:
		}
	}
}
