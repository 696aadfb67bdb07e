package monitors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/hpcorch/hpcorch/monitors"
	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
)

// A week of data at one point per second is far beyond Prometheus' 11,000
// points per series: the step is raised to a multiple of the scrape interval.
func ExampleFitStep() {
	end := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	start := end.Add(-7 * 24 * time.Hour)
	fmt.Println(monitors.FitStep(start, end, time.Second, 15*time.Second))
	fmt.Println(monitors.FitStep(start, end.Add(-167*time.Hour), time.Second, 15*time.Second))
	// Output:
	// 1m0s
	// 1s
}

// Float writes what encoding/json refuses as numbers the way Prometheus
// writes them.
func ExampleFloat() {
	data, _ := json.Marshal([]monitors.Float{0.25, monitors.Float(math.NaN()),
		monitors.Float(math.Inf(1))})
	fmt.Println(string(data))
	// Output: [0.25,"NaN","+Inf"]
}

func ExampleMonitors_QueryMetrics() {
	ctx := context.Background()
	var srv *servers.Servers // from servers.New over an SSH connection
	mons := monitors.New(srv, monitors.Options{})

	res, err := mons.QueryMetrics(ctx, "prometheus_1a2b3c4d",
		`rate(container_cpu_usage_seconds_total{hpcorch_service="redis_1a2b3c4d"}[1m])`)
	var qe *monitors.QueryError
	switch {
	case errors.As(err, &qe) && errors.Is(err, monitors.ErrBadQuery):
		log.Fatalf("bad query at line %d, column %d: %s", qe.Line, qe.Column, qe.Msg)
	case err != nil:
		log.Fatal(err)
	case res.NoData():
		fmt.Println("no such series (yet)")
	}
	for _, w := range res.Warnings {
		log.Println("prometheus:", w)
	}
	fmt.Println(res)
}

func ExampleMonitors_StartMonitor() {
	ctx := context.Background()
	var srv *servers.Servers // from servers.New over an SSH connection
	mons := monitors.New(srv, monitors.Options{MetricsDir: "metrics"})

	r, err := recipe.Load("recipes/services/prometheus_with_cadvisor.yaml")
	if err != nil {
		log.Fatal(err)
	}
	mon, err := mons.StartMonitor(ctx, r)
	if err != nil {
		log.Fatal(err)
	}
	mon, err = mons.WaitReady(ctx, mon.ID)
	var down *monitors.TargetsDownError
	if errors.As(err, &down) {
		for _, t := range down.Down {
			log.Println("down:", t) // job, URL and Prometheus' last scrape error
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Prometheus at", mon.Endpoint)
}

func ExampleMonitors_ConstructReport() {
	ctx := context.Background()
	var srv *servers.Servers // from servers.New over an SSH connection
	mons := monitors.New(srv, monitors.Options{MetricsDir: "metrics"})

	end := time.Now()
	rep, err := mons.ConstructReport(ctx, "prometheus_1a2b3c4d", "session_report.json",
		monitors.ReportWindow(end.Add(-time.Hour), end))
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range rep.Services {
		fmt.Printf("%s: %.1f%% up\n", s.Service, 100*float64(s.Availability.Ratio))
		for _, m := range s.Metrics {
			fmt.Printf("  %s p95 %v %s\n", m.Title, m.Summary.P95, m.Unit)
		}
	}
	fmt.Println("open", rep.HTMLPath)
}

func ExampleMonitors_CollectMetricsToFile() {
	ctx := context.Background()
	var srv *servers.Servers // from servers.New over an SSH connection
	mons := monitors.New(srv, monitors.Options{MetricsDir: "metrics"})

	end := time.Now()
	path, err := mons.CollectMetricsToFile(ctx, "prometheus_1a2b3c4d",
		"container_memory_usage_bytes", "memory.json",
		monitors.OverRange(v1.Range{Start: end.Add(-30 * time.Minute), End: end}))
	if err != nil {
		log.Fatal(err)
	}
	f, err := monitors.ReadMetricsFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Query, f.Range.Step, f.PrometheusVersion)
}
