package monitors

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// reportPoints is the number of points per series a report aims at when
// no step is given: enough for charts and percentiles, small enough for
// a file people open. The step never goes below the scrape interval, and
// never lets a series exceed MaxPoints.
const reportPoints = 2000

// ReportOption changes what ConstructReport covers.
type ReportOption func(*reportOptions)

type reportOptions struct {
	start, end time.Time
	step       time.Duration
}

// ReportWindow limits the report to [start, end] instead of the monitor's
// lifetime. A zero start means the monitor's start, a zero end now.
func ReportWindow(start, end time.Time) ReportOption {
	return func(o *reportOptions) { o.start, o.end = start, end }
}

// ReportStep sets the step of the report's range queries. It is raised
// when needed to keep each series within MaxPoints points.
func ReportStep(d time.Duration) ReportOption {
	return func(o *reportOptions) { o.step = d }
}

// Report is what ConstructReport found: per monitored service, over a
// window, its availability, resource use and scrape health.
type Report struct {
	// MonitorID, JobID and Node name the monitor.
	MonitorID string `json:"monitor_id"`
	JobID     string `json:"job_id"`
	Node      string `json:"node"`

	// PrometheusVersion is the monitor's Prometheus version.
	PrometheusVersion string `json:"prometheus_version"`

	// GeneratedAt is when the report was made.
	GeneratedAt time.Time `json:"generated_at"`

	// Start, End and Step are the window and the step of its queries;
	// RateWindow is the window of its rate() queries.
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Step        string    `json:"step"`
	StepSeconds float64   `json:"step_seconds"`
	RateWindow  string    `json:"rate_window"`

	// ScrapeInterval is the monitor's scrape interval.
	ScrapeInterval string `json:"scrape_interval"`

	// Services has one entry per target the monitor scraped in the
	// window, except Prometheus itself.
	Services []ServiceReport `json:"services"`

	// Targets is the health of every target when the report was made.
	Targets []TargetHealth `json:"targets"`

	// Warnings and Infos collect Prometheus' notes on the report's
	// queries.
	Warnings []string `json:"warnings"`
	Infos    []string `json:"infos"`

	// JSONPath and HTMLPath are the files written.
	JSONPath string `json:"-"`
	HTMLPath string `json:"-"`
}

// ServiceReport covers one monitored target: an hpcorch service's
// cAdvisor, or a fixed host.
type ServiceReport struct {
	// Service is the hpcorch service ID, or the instance for a target
	// that is not a service.
	Service string `json:"service"`

	// Job and Instance are the target's Prometheus labels; Address is its
	// address label, host:port, when it has one.
	Job      string `json:"job"`
	Instance string `json:"instance"`
	Address  string `json:"address,omitempty"`

	// JobID, Node and Cgroup are the service's job id, node and cgroup,
	// when known. Metrics select the cgroup's own series; without one
	// they cover the whole node.
	JobID  string `json:"job_id,omitempty"`
	Node   string `json:"node,omitempty"`
	Cgroup string `json:"cgroup,omitempty"`

	// Availability is the up and down time of the target's scrapes.
	Availability Availability `json:"availability"`

	// Scrape is the health of the target's scrapes.
	Scrape ScrapeHealth `json:"scrape"`

	// Metrics are the resource series, in a fixed order: CPU, memory
	// usage, working set and limit, network receive and transmit,
	// filesystem usage.
	Metrics []MetricSeries `json:"metrics"`
}

// Availability sums a target's up and down time over the window, from
// the up series sampled at the report's step.
type Availability struct {
	// UpSeconds and DownSeconds count a step for each up point at 1 and
	// at 0.
	UpSeconds   float64 `json:"up_seconds"`
	DownSeconds float64 `json:"down_seconds"`
	// Ratio is up / (up + down), NaN without samples.
	Ratio Float `json:"ratio"`
	// Samples counts the up points seen.
	Samples int `json:"samples"`
}

// ScrapeHealth is how scraping a target went.
type ScrapeHealth struct {
	// Health and LastError are the target's state when the report was
	// made ("" when the target is gone).
	Health    string `json:"health,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// Duration summarises scrape_duration_seconds, Samples
	// scrape_samples_scraped.
	Duration Summary `json:"duration_seconds"`
	Samples  Summary `json:"samples_scraped"`
}

// MetricSeries is one resource metric of one service over the window.
type MetricSeries struct {
	// Name is a stable key, such as "cpu" or "memory_usage".
	Name string `json:"name"`
	// Title and Unit are for people: "CPU", "cores".
	Title string `json:"title"`
	Unit  string `json:"unit"`
	// Query is the PromQL that produced the series.
	Query string `json:"query"`
	// Scope is "cgroup" when the series is the service job's own, "node"
	// when it covers the whole node (cAdvisor reports network and
	// filesystem use for the root cgroup only).
	Scope string `json:"scope"`
	// Summary holds min, mean, p95 and max.
	Summary Summary `json:"summary"`
	// Points are the samples, at the report's step.
	Points []Point `json:"points"`
	// Error is the query's error, when Prometheus refused it.
	Error string `json:"error,omitempty"`
}

// Point is one sample.
type Point struct {
	// T is the sample's time, on the report's step grid.
	T time.Time `json:"t"`
	// V is its value; NaN where the query gave NaN.
	V Float `json:"v"`
}

// metricDef says how to query one resource metric: agg applied to expr,
// where expr has %[1]s for the series selector and %[2]s for the rate
// window.
type metricDef struct {
	name, title, unit string
	agg, expr         string
	// nodeFallback allows the node's root cgroup when the job's cgroup
	// has no such series.
	nodeFallback bool
}

var reportMetrics = []metricDef{
	{"cpu", "CPU", "cores", "sum", "rate(container_cpu_usage_seconds_total{%[1]s}[%[2]s])", false},
	{"memory_usage", "Memory usage", "bytes", "sum", "container_memory_usage_bytes{%[1]s}", false},
	{"memory_working_set", "Memory working set", "bytes", "sum",
		"container_memory_working_set_bytes{%[1]s}", false},
	{"memory_limit", "Memory limit", "bytes", "max",
		"container_spec_memory_limit_bytes{%[1]s}", false},
	{"network_receive", "Network receive", "bytes/s", "sum",
		"rate(container_network_receive_bytes_total{%[1]s}[%[2]s])", true},
	{"network_transmit", "Network transmit", "bytes/s", "sum",
		"rate(container_network_transmit_bytes_total{%[1]s}[%[2]s])", true},
	{"filesystem_usage", "Filesystem usage", "bytes", "sum", "container_fs_usage_bytes{%[1]s}",
		true},
}

// query returns d's PromQL for the series selected by sel: the query a
// MetricSeries reports.
func (d metricDef) query(sel, window string) string {
	return d.agg + "(" + fmt.Sprintf(d.expr, sel, window) + ")"
}

// ConstructReport builds a report on a running monitor: for each target it
// scraped (each monitored service), over the monitor's lifetime or the
// ReportWindow, the up and down time, CPU rate, memory usage, working set
// and limit, network receive and transmit rates and filesystem usage, each
// with min, mean, p95 and max, and the scrape health. It writes the report
// as JSON to path and as one self-contained HTML page, with an SVG chart
// per metric and service, beside it (path with its extension replaced by
// .html; a path ending in .html gets the JSON beside it instead). Relative
// paths are taken inside Options.MetricsDir. The page loads nothing when
// opened.
func (m *Monitors) ConstructReport(ctx context.Context, id, path string,
	opts ...ReportOption) (*Report, error) {
	jsonPath, htmlPath, err := reportPaths(m.opts.MetricsDir, path)
	if err != nil {
		return nil, err
	}
	var o reportOptions
	for _, f := range opts {
		f(&o)
	}

	svc, err := m.running(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := m.conn(ctx, svc.ID)
	if err != nil {
		return nil, err
	}
	mon := fromService(svc, time.Time{})
	if o.start.IsZero() {
		o.start = mon.StartedAt
	}

	rep, err := buildReport(ctx, c, o)
	if err != nil {
		return nil, m.checkReach(svc.ID, c, err)
	}
	rep.JobID, rep.Node = svc.JobID, svc.Node

	if err := writeReportJSON(jsonPath, rep); err != nil {
		return nil, err
	}
	page, err := renderHTML(rep)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(htmlPath, page); err != nil {
		return nil, err
	}
	rep.JSONPath, rep.HTMLPath = jsonPath, htmlPath
	m.log.Info("report written", "monitor", svc.ID, "json", jsonPath, "html", htmlPath)
	return rep, nil
}

// reportPaths returns the JSON and HTML files for a report path.
func reportPaths(dir, path string) (string, string, error) {
	p, err := outputPath(dir, path)
	if err != nil {
		return "", "", err
	}
	ext := filepath.Ext(p)
	base := strings.TrimSuffix(p, ext)
	if strings.EqualFold(ext, ".html") || strings.EqualFold(ext, ".htm") {
		return base + ".json", p, nil
	}
	return p, base + ".html", nil
}

// buildReport queries c for everything a Report holds over o's window.
func buildReport(ctx context.Context, c *conn, o reportOptions) (*Report, error) {
	end := o.end
	if end.IsZero() {
		end = time.Now()
	}
	start := o.start
	if start.IsZero() || !start.Before(end) {
		start = end.Add(-time.Minute)
	}
	step := o.step
	if step <= 0 {
		step = FitStep(start, end, end.Sub(start)/reportPoints, c.scrape)
		if c.scrape > 0 && step < c.scrape {
			step = c.scrape
		}
	}
	r := v1.Range{Start: start.UTC().Truncate(time.Second), End: end.UTC(), Step: step}
	r.Step = FitStep(r.Start, r.End, r.Step, c.scrape)

	version, err := c.version(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		MonitorID:         c.id,
		PrometheusVersion: version,
		GeneratedAt:       time.Now().UTC(),
		Start:             r.Start,
		End:               r.End,
		Step:              r.Step.String(),
		StepSeconds:       r.Step.Seconds(),
		RateWindow:        model.Duration(rateWindow(r.Step, c.scrape)).String(),
		ScrapeInterval:    model.Duration(c.scrape).String(),
		Warnings:          []string{},
		Infos:             []string{},
		Services:          []ServiceReport{},
	}

	b := &reportBuilder{c: c, rep: rep, r: r}
	if err := b.run(ctx); err != nil {
		return nil, err
	}
	return rep, nil
}

// rateWindow is the window of the report's rate() queries: at least a
// minute (cAdvisor stamps samples 10 to 20 s apart), four scrape
// intervals, and the step, so that no sample falls between two points.
func rateWindow(step, scrape time.Duration) time.Duration {
	w := max(time.Minute, 4*scrape, step)
	return w.Round(time.Second)
}

// newServiceReport starts the report of the target whose up series is s.
func newServiceReport(s *model.SampleStream, step time.Duration) ServiceReport {
	l := s.Metric
	sr := ServiceReport{
		Service:  string(l[LabelService]),
		Job:      string(l[model.JobLabel]),
		Instance: string(l[model.InstanceLabel]),
		Address:  string(l[LabelAddress]),
		JobID:    string(l[LabelJobID]),
		Node:     string(l[LabelNode]),
		Cgroup:   string(l[LabelCgroup]),
		Metrics:  []MetricSeries{},
	}
	if sr.Service == "" {
		sr.Service = sr.Instance
	}

	for _, p := range s.Values {
		sr.Availability.Samples++
		if p.Value == 1 {
			sr.Availability.UpSeconds += step.Seconds()
		} else {
			sr.Availability.DownSeconds += step.Seconds()
		}
	}
	total := sr.Availability.UpSeconds + sr.Availability.DownSeconds
	sr.Availability.Ratio = Float(nan())
	if total > 0 {
		sr.Availability.Ratio = Float(sr.Availability.UpSeconds / total)
	}
	return sr
}
