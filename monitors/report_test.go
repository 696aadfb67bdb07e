package monitors

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	redisUp = map[string]string{"__name__": "up", "job": "redis-cadvisor", "instance": "node1:8080",
		LabelService: "redis_1a2b3c4d", LabelJobID: "41", LabelNode: "node1",
		LabelCgroup: "/slurm_node1/uid_2001/job_41"}
	ollamaUp = map[string]string{"__name__": "up", "job": "ollama-cadvisor",
		"instance":   "node2:8080",
		LabelService: "ollama_5e6f7a8b", LabelJobID: "43", LabelNode: "node2"}
)

// reportTargets is the targets answer during the report: redis up,
// ollama's cAdvisor refusing.
const reportTargets = `{"status":"success","data":{"activeTargets":[
{"labels":{"instance":"node1:8080","job":"redis-cadvisor","hpcorch_service":"redis_1a2b3c4d"},
 "scrapePool":"redis-cadvisor","scrapeUrl":"http://node1:8080/metrics",
 "lastError":"","health":"up"},
{"labels":{"instance":"node2:8080","job":"ollama-cadvisor","hpcorch_service":"ollama_5e6f7a8b"},
 "scrapePool":"ollama-cadvisor","scrapeUrl":"http://node2:8080/metrics",
 "lastError":"dial tcp 10.77.0.12:8080: connect: connection refused",
 "health":"down"}],"droppedTargets":[]}}`

// reportTerm matches one target's selector in a report's metric query.
var reportTerm = regexp.MustCompile(
	`job="([^"]*)",instance="([^"]*)"(?:,address="[^"]*")?,id="([^"]*)"`)

// groupedAnswer answers a report's metric query: a series labelled with
// job, instance and id for each selector term that value gives values for
// (nil: no such series).
func groupedAnswer(r v1.Range, q string,
	value func(q, job, instance, id string) func(i int) string) stubResp {
	var labels []map[string]string
	var values []func(int) string
	for _, m := range reportTerm.FindAllStringSubmatch(q, -1) {
		if f := value(q, m[1], m[2], m[3]); f != nil {
			labels = append(labels, map[string]string{"job": m[1], "instance": m[2], "id": m[3]})
			values = append(values, f)
		}
	}
	return stubResp{200, matrixJSON(r, labels, func(s int, ts time.Time) string {
		return values[s](int(ts.Sub(r.Start) / r.Step))
	})}
}

// reportStub answers the report's range queries with made-up cAdvisor
// data: redis has its own cgroup series (CPU NaN while idle at first),
// network and filesystem only on the node's root cgroup; ollama's first
// two scrapes failed and it has no cgroup recorded.
func reportStub(t *testing.T) *promStub {
	stub := newPromStub(t)
	stub.onPath("/api/v1/targets", stubResp{200, reportTargets})
	targets := []map[string]string{
		{"job": "redis-cadvisor", "instance": "node1:8080"},
		{"job": "ollama-cadvisor", "instance": "node2:8080"},
	}
	stub.anyRng = func(q string, r v1.Range) stubResp {
		constant := func(v string) stubResp {
			return stubResp{200, matrixJSON(r, targets, func(int, time.Time) string { return v })}
		}
		switch {
		case q == `up{job!="prometheus"}`:
			return stubResp{200, matrixJSON(r, []map[string]string{redisUp, ollamaUp},
				func(s int, ts time.Time) string {
					if s == 1 && !ts.After(r.Start.Add(r.Step)) {
						return "0"
					}
					return "1"
				})}
		case q == `scrape_duration_seconds{job!="prometheus"}`:
			return constant("0.012")
		case q == `scrape_samples_scraped{job!="prometheus"}`:
			return constant("994")
		}
		return groupedAnswer(r, q, redisOllamaSeries)
	}
	return stub
}

// redisOllamaSeries gives the values of one target's series in query q.
func redisOllamaSeries(q, _, instance, id string) func(i int) string {
	redis := instance == "node1:8080"
	cgroup := id == "/slurm_node1/uid_2001/job_41"
	root := id == "/"
	switch {
	case strings.Contains(q, "network") && redis && cgroup:
		return nil // cAdvisor has no network series for job cgroups
	case strings.Contains(q, "container_cpu_usage") && redis && cgroup:
		return func(i int) string {
			if i < 3 {
				return "NaN"
			}
			return strconv.FormatFloat(0.1*float64(i%10), 'f', -1, 64)
		}
	case strings.Contains(q, "memory") && redis && cgroup:
		return func(i int) string { return strconv.Itoa(10<<20 + i*1024) }
	case strings.Contains(q, "limit") && root:
		return nil
	case root:
		return func(i int) string { return strconv.Itoa(1000 * i) }
	}
	return nil
}

func TestConstructReport(t *testing.T) {
	stub := reportStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	m := newTestMonitors(t, b)

	end := time.Unix(1_800_003_600, 0).UTC()
	start := end.Add(-time.Hour)
	rep, err := m.ConstructReport(ctxT(t), svc.ID, "session_report.json", ReportWindow(start, end))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(m.opts.MetricsDir, "session_report.json"), rep.JSONPath)
	assert.Equal(t, filepath.Join(m.opts.MetricsDir, "session_report.html"), rep.HTMLPath)

	// The JSON file reads back, NaN and all.
	data, err := os.ReadFile(rep.JSONPath)
	require.NoError(t, err)
	var got Report
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, svc.ID, got.MonitorID)
	assert.Equal(t, "2.42.0+ds", got.PrometheusVersion)
	assert.Equal(t, "15s", got.Step, "an hour at the scrape interval")
	assert.Equal(t, "1m", got.RateWindow)
	require.Len(t, got.Services, 2)
	assert.Len(t, got.Targets, 2)

	ollama, redis := got.Services[0], got.Services[1]
	assert.Equal(t, "ollama_5e6f7a8b", ollama.Service)
	assert.Equal(t, "redis_1a2b3c4d", redis.Service)
	assert.Equal(t, "41", redis.JobID)
	assert.Equal(t, "/slurm_node1/uid_2001/job_41", redis.Cgroup)

	assert.Equal(t, 241, redis.Availability.Samples)
	assert.Equal(t, 241*15.0, redis.Availability.UpSeconds)
	assert.Equal(t, 30.0, ollama.Availability.DownSeconds, "two failed scrapes at a 15s step")
	assert.InDelta(t, 239.0/241, float64(ollama.Availability.Ratio), 1e-9)
	assert.InDelta(t, 0.012, float64(redis.Scrape.Duration.Mean), 1e-12)
	assert.Equal(t, "up", redis.Scrape.Health, "from the targets now")
	assert.Equal(t, "down", ollama.Scrape.Health)
	assert.Contains(t, ollama.Scrape.LastError, "connection refused")

	metrics := map[string]MetricSeries{}
	var names []string
	for _, ms := range redis.Metrics {
		metrics[ms.Name] = ms
		names = append(names, ms.Name)
	}
	assert.Equal(t, []string{"cpu", "memory_usage", "memory_working_set", "memory_limit",
		"network_receive", "network_transmit", "filesystem_usage"}, names)

	cpu := metrics["cpu"]
	assert.Equal(t, "cgroup", cpu.Scope)
	assert.Equal(t, `sum(rate(container_cpu_usage_seconds_total{job="redis-cadvisor",`+
		`instance="node1:8080",id="/slurm_node1/uid_2001/job_41"}[1m]))`, cpu.Query)
	require.Len(t, cpu.Points, 241)
	assert.True(t, math.IsNaN(float64(cpu.Points[0].V)), "NaN kept in the JSON")
	assert.Equal(t, 3, cpu.Summary.NaN)
	assert.Equal(t, Float(0), cpu.Summary.Min)
	assert.Equal(t, Float(0.9), cpu.Summary.Max)
	assert.False(t, cpu.Summary.NoData)

	assert.Equal(t, "cgroup", metrics["memory_usage"].Scope)
	assert.Equal(t, Float(10<<20), metrics["memory_usage"].Summary.Min)
	assert.Equal(t, "node", metrics["network_receive"].Scope,
		"falls back to the node's root cgroup")
	assert.NotEmpty(t, metrics["network_receive"].Points)
	assert.Equal(t, "node", metrics["filesystem_usage"].Scope)

	for _, ms := range ollama.Metrics {
		assert.Equal(t, "node", ms.Scope, "no cgroup known: whole node")
	}

	// Every query stayed within Prometheus' points limit.
	for _, r := range stub.requests() {
		if r.path == "/api/v1/query_range" {
			assert.LessOrEqual(t, int64(r.rng.End.Sub(r.rng.Start)/r.rng.Step), int64(MaxPoints))
		}
	}
}

func TestConstructReportHTMLIsSelfContained(t *testing.T) {
	stub := reportStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	m := newTestMonitors(t, b)

	end := time.Unix(1_800_003_600, 0).UTC()
	out := filepath.Join(t.TempDir(), "r.html")
	rep, err := m.ConstructReport(ctxT(t), svc.ID, out, ReportWindow(end.Add(-2*time.Hour), end))
	require.NoError(t, err)
	assert.Equal(t, out, rep.HTMLPath)
	assert.Equal(t, strings.TrimSuffix(out, ".html")+".json", rep.JSONPath)

	page, err := os.ReadFile(out)
	require.NoError(t, err)
	html := string(page)
	assert.True(t, strings.HasPrefix(html, "<!DOCTYPE html>"))

	charts := 0
	for _, s := range rep.Services {
		for _, ms := range s.Metrics {
			if len(ms.Points) > 0 {
				charts++
			}
		}
	}
	assert.Equal(t, charts, strings.Count(html, "<svg"),
		"one chart per metric and service with data")
	assert.Greater(t, charts, 8)
	assert.NotContains(t, html, "<?xml")

	lower := strings.ToLower(html)
	for _, fetch := range []string{"<script", "src=", "href=", "url(", "@import", "<link",
		"<iframe"} {
		assert.NotContains(t, lower, fetch, "the page must load nothing")
	}
	assert.Contains(t, html, "redis_1a2b3c4d")
	assert.Contains(t, html, "no data", "ollama's memory limit has no series")
	assert.Contains(t, html, "connection refused", "scrape errors shown")
}

func TestConstructReportNotRunning(t *testing.T) {
	b := newFakeBackend(t)
	m := newTestMonitors(t, b)
	_, err := m.ConstructReport(ctxT(t), "prometheus_ffffffff", "r.json")
	require.ErrorIs(t, err, ErrMonitorNotFound)
}

func TestReduceKeepsPeaksAndGaps(t *testing.T) {
	t0 := time.Unix(0, 0)
	var pts []Point
	for i := range 10000 {
		v := 1.0
		switch {
		case i == 4321:
			v = 100
		case i == 7000:
			v = math.NaN()
		}
		pts = append(pts, Point{T: t0.Add(time.Duration(i) * time.Second), V: Float(v)})
	}
	got := reduce(pts, chartPoints)
	assert.LessOrEqual(t, len(got), chartPoints+3)
	peak, gap := false, false
	for i, p := range got {
		if p.V == 100 {
			peak = true
		}
		if math.IsNaN(float64(p.V)) {
			gap = true
		}
		if i > 0 {
			assert.True(t, p.T.After(got[i-1].T), "time order")
		}
	}
	assert.True(t, peak, "the peak survives")
	assert.True(t, gap, "the gap survives")
	assert.Len(t, segments(got), 2)
}

func TestScaleFor(t *testing.T) {
	div, unit := scaleFor("bytes", 3<<30)
	assert.Equal(t, float64(1<<30), div)
	assert.Equal(t, "GiB", unit)
	_, unit = scaleFor("bytes/s", 2048)
	assert.Equal(t, "KiB/s", unit)
	div, unit = scaleFor("cores", 3)
	assert.Equal(t, 1.0, div)
	assert.Equal(t, "cores", unit)
	assert.Equal(t, "10.000 MiB", formatValue(Float(10<<20), "bytes"))
	assert.Equal(t, "NaN", formatValue(Float(math.NaN()), "bytes"))
}

// fleetStub serves n cAdvisor targets, each with its own cgroup: every
// series of target i has the value i, so that a report that mixed up
// targets shows it.
func fleetStub(t *testing.T, n int) *promStub {
	stub := newPromStub(t)
	up := make([]map[string]string, n)
	for i := range up {
		node := "node" + strconv.Itoa(i%3+1)
		up[i] = map[string]string{"__name__": "up", "job": "cadvisor",
			"instance": node + ":" + strconv.Itoa(18000+i), LabelService: "svc-" + strconv.Itoa(i),
			LabelCgroup: "/slurm_" + node + "/job_" + strconv.Itoa(1000+i)}
	}
	index := func(instance string) int {
		_, port, _ := strings.Cut(instance, ":")
		p, _ := strconv.Atoi(port)
		return p - 18000
	}
	stub.onPath("/api/v1/targets", stubResp{200,
		`{"status":"success","data":{"activeTargets":[],"droppedTargets":[]}}`})
	stub.anyRng = func(q string, r v1.Range) stubResp {
		if q == `up{job!="prometheus"}` || strings.HasPrefix(q, "scrape_") {
			return stubResp{200, matrixJSON(r, up, func(s int, _ time.Time) string {
				if strings.HasPrefix(q, "up") {
					return "1"
				}
				return strconv.Itoa(s)
			})}
		}
		return groupedAnswer(r, q, func(q, _, instance, id string) func(int) string {
			rootOnly := strings.Contains(q, "network") || strings.Contains(q, "fs_usage")
			if rootOnly != (id == "/") {
				return nil // like cAdvisor: network and filesystem on "/" only
			}
			v := strconv.Itoa(index(instance))
			return func(int) string { return v }
		})
	}
	return stub
}

func TestConstructReportQueriesDoNotGrowWithServices(t *testing.T) {
	end := time.Unix(1_800_003_600, 0).UTC()
	queries := map[int]int{}
	for _, n := range []int{1, 3, 40} {
		stub := fleetStub(t, n)
		b := newFakeBackend(t)
		svc := runningMonitor(t, b, stub, nil)
		m := newTestMonitors(t, b)

		rep, err := m.ConstructReport(ctxT(t), svc.ID, "fleet.json",
			ReportWindow(end.Add(-time.Hour), end))
		require.NoError(t, err)
		require.Len(t, rep.Services, n)
		for _, s := range rep.Services {
			want := Float(must(strconv.Atoi(strings.TrimPrefix(s.Service, "svc-"))))
			require.Len(t, s.Metrics, len(reportMetrics))
			for k, ms := range s.Metrics {
				scope := "cgroup"
				if reportMetrics[k].nodeFallback {
					scope = "node"
				}
				assert.Equal(t, scope, ms.Scope, "%s %s", s.Service, ms.Name)
				assert.Equal(t, want, ms.Summary.Max, "%s %s: its own series", s.Service, ms.Name)
				assert.Len(t, ms.Points, 241)
			}
			assert.Equal(t, want, s.Scrape.Samples.Mean, "%s: its own scrape series", s.Service)
		}
		for _, r := range stub.requests() {
			if r.path == "/api/v1/query_range" {
				queries[n]++
			}
		}
	}
	// up, 7 metrics and 2 scrape series, then the node's root cgroup for
	// the 3 metrics cAdvisor may keep there only.
	assert.Equal(t, 13, queries[1])
	assert.Equal(t, queries[1], queries[3])
	assert.Equal(t, queries[1], queries[40], "one query per metric, whatever the services")
}

func TestConstructReportRefusedQueryNamesEachService(t *testing.T) {
	stub := reportStub(t)
	any := stub.anyRng
	stub.anyRng = func(q string, r v1.Range) stubResp {
		if strings.Contains(q, "container_memory_usage_bytes") {
			return stubResp{422, `{"status":"error","errorType":"execution",` +
				`"error":"query processing would load too many samples"}`}
		}
		return any(q, r)
	}
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	m := newTestMonitors(t, b)

	end := time.Unix(1_800_003_600, 0).UTC()
	rep, err := m.ConstructReport(ctxT(t), svc.ID, "r.json", ReportWindow(end.Add(-time.Hour), end))
	require.NoError(t, err, "a refused query is kept in its series")
	require.Len(t, rep.Services, 2)
	for _, s := range rep.Services {
		ms := s.Metrics[1]
		require.Equal(t, "memory_usage", ms.Name)
		assert.True(t, ms.Summary.NoData)
		assert.Contains(t, ms.Error, "too many samples")
		assert.Contains(t, ms.Error, s.Instance, "names the service's own query")
		assert.NotContains(t, ms.Error, " or ", "not the query of every service")
		assert.Equal(t, "cpu", s.Metrics[0].Name)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A series of one sample (a report built right after a target came up)
// still shows that sample as a dot: a line through one point draws nothing.
func TestChartShowsASingleSample(t *testing.T) {
	at := time.Date(2026, 12, 3, 20, 18, 16, 0, time.UTC)
	dot := regexp.MustCompile(`d="M[0-9.,]+A2\.5,2\.5 `) // a circle of radius 2.5 pt

	one, err := chartSVG("cpu", MetricSeries{Unit: "cores", Points: []Point{{T: at, V: 0.002}}})
	require.NoError(t, err)
	require.Regexp(t, dot, one)

	two, err := chartSVG("cpu", MetricSeries{Unit: "cores", Points: []Point{
		{T: at, V: 0.002}, {T: at.Add(5 * time.Second), V: 0.003}}})
	require.NoError(t, err)
	require.NotRegexp(t, dot, two, "a series of two samples is a line")
}
