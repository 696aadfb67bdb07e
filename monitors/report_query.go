package monitors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// reportConcurrency is the most range queries a report has in flight at
// once: enough to hide round trips through SSH, few enough not to crowd a
// monitor's Prometheus.
const reportConcurrency = 4

// reportBatch is the most targets one metric query of a report covers.
// A report asks once per metric for every target (one "or" term each), so
// its number of queries does not grow with its targets; past this many the
// query is split, to keep its text and Prometheus' evaluation tree modest.
const reportBatch = 256

// reportGroup are the labels a report's metric queries keep: enough to
// tell apart the series of every target and cgroup.
const reportGroup = "job, instance, " + LabelAddress + ", id"

// reportBuilder fills one Report.
type reportBuilder struct {
	c   *conn
	rep *Report
	r   v1.Range
}

// answer is one range query's result: its matrix, or the error of a query
// Prometheus refused (other failures end the report).
type answer struct {
	m   model.Matrix
	qe  *QueryError
	res *QueryResult
	err error
}

// run finds the targets, then queries every metric for all of them.
func (b *reportBuilder) run(ctx context.Context) error {
	var health []TargetHealth
	var herr error
	var wg sync.WaitGroup
	wg.Go(func() { health, herr = b.c.targets(ctx) })
	up, err := b.queryAll(ctx, []string{`up{job!="` + selfJob + `"}`})
	wg.Wait()
	if err != nil {
		return err
	}
	if herr != nil {
		return herr
	}
	if up[0].qe != nil {
		return up[0].qe
	}
	b.rep.Targets = health

	svcs := make([]ServiceReport, 0, len(up[0].m))
	for _, s := range up[0].m {
		sr := newServiceReport(s, b.r.Step)
		for _, t := range health {
			if t.Job == sr.Job && t.Instance == sr.Instance && t.Address == sr.Address {
				sr.Scrape.Health, sr.Scrape.LastError = t.Health, t.LastError
			}
		}
		sr.Metrics = make([]MetricSeries, len(reportMetrics))
		svcs = append(svcs, sr)
	}
	if err := b.fill(ctx, svcs); err != nil {
		return err
	}

	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Service < svcs[j].Service })
	b.rep.Services = svcs
	return nil
}

// fill queries the resource and scrape series of every service: each
// metric once for all of them, then, for the metrics cAdvisor may only
// keep for the root cgroup, once more for the services whose own cgroup
// had no series.
func (b *reportBuilder) fill(ctx context.Context, svcs []ServiceReport) error {
	all := make([]int, len(svcs))
	for i := range all {
		all[i] = i
	}
	var plans []metricPlan
	for d := range reportMetrics {
		plans = append(plans, batches(d, false, all)...)
	}
	scrape := []string{
		`scrape_duration_seconds{job!="` + selfJob + `"}`,
		`scrape_samples_scraped{job!="` + selfJob + `"}`,
	}
	if err := b.runPlans(ctx, svcs, plans, scrape...); err != nil {
		return err
	}

	plans = nil
	for d, def := range reportMetrics {
		var again []int
		for i, sr := range svcs {
			if def.nodeFallback && sr.Metrics[d].Scope == "cgroup" && sr.Metrics[d].Summary.NoData {
				again = append(again, i)
			}
		}
		plans = append(plans, batches(d, true, again)...)
	}
	return b.runPlans(ctx, svcs, plans)
}

// metricPlan is one query of one metric for some services.
type metricPlan struct {
	def  int   // index in reportMetrics
	node bool  // the node's root cgroup, even for services with their own
	svcs []int // indexes of the services covered
}

// batches splits svcs into plans of at most reportBatch services.
func batches(def int, node bool, svcs []int) []metricPlan {
	var out []metricPlan
	for len(svcs) > 0 {
		n := min(len(svcs), reportBatch)
		out = append(out, metricPlan{def: def, node: node, svcs: svcs[:n]})
		svcs = svcs[n:]
	}
	return out
}

// runPlans runs the plans' queries and the scrape queries (at most two:
// duration, then samples) together and files their series.
func (b *reportBuilder) runPlans(ctx context.Context, svcs []ServiceReport,
	plans []metricPlan, scrape ...string) error {
	if len(plans) == 0 && len(scrape) == 0 {
		return nil
	}
	window := model.Duration(rateWindow(b.r.Step, b.c.scrape)).String()
	qs := make([]string, 0, len(plans)+len(scrape))
	for _, p := range plans {
		qs = append(qs, p.query(svcs, window))
	}
	qs = append(qs, scrape...)

	ans, err := b.queryAll(ctx, qs)
	if err != nil {
		return err
	}

	for k, p := range plans {
		def := reportMetrics[p.def]
		byKey := seriesByKey(ans[k].m)
		for _, i := range p.svcs {
			sel, id, scope := ownSelector(&svcs[i], p.node)
			ms := metricSeries(def, def.query(sel, window), scope, ans[k].qe,
				byKey[seriesKey(svcs[i].Job, svcs[i].Instance, svcs[i].Address, id)])
			svcs[i].Metrics[p.def] = ms
		}
	}
	for k := range scrape {
		a := ans[len(plans)+k]
		for i := range svcs {
			s := targetSummary(a, &svcs[i])
			if k == 0 {
				svcs[i].Scrape.Duration = s
			} else {
				svcs[i].Scrape.Samples = s
			}
		}
	}
	return nil
}

// query returns the plan's PromQL: the metric's aggregation, by target and
// cgroup, over one "or" term per service.
func (p metricPlan) query(svcs []ServiceReport, window string) string {
	def := reportMetrics[p.def]
	seen := map[string]bool{}
	var b strings.Builder
	b.WriteString(def.agg + " by (" + reportGroup + ") (")
	for _, i := range p.svcs {
		sel, _, _ := ownSelector(&svcs[i], p.node)
		if seen[sel] {
			continue
		}
		if len(seen) > 0 {
			b.WriteString(" or ")
		}
		seen[sel] = true
		b.WriteString(fmt.Sprintf(def.expr, sel, window))
	}
	b.WriteString(")")
	return b.String()
}

// targetSelector selects the series of sr's target.
func targetSelector(sr *ServiceReport) string {
	sel := `job=` + strconv.Quote(sr.Job) + `,instance=` + strconv.Quote(sr.Instance)
	if sr.Address != "" {
		// Two services of one job on one node share their instance.
		sel += `,` + LabelAddress + `=` + strconv.Quote(sr.Address)
	}
	return sel
}

// ownSelector selects sr's own cgroup, or the node's root cgroup when node
// is set or sr has no cgroup; it returns the selector, the cgroup id and
// the scope.
func ownSelector(sr *ServiceReport, node bool) (sel, id, scope string) {
	id, scope = "/", "node"
	if sr.Cgroup != "" && !node {
		id, scope = sr.Cgroup, "cgroup"
	}
	return targetSelector(sr) + `,id=` + strconv.Quote(id), id, scope
}

// seriesKey identifies a series of a report's metric queries.
func seriesKey(job, instance, address, id string) string {
	return job + "\x00" + instance + "\x00" + address + "\x00" + id
}

// seriesByKey indexes m by seriesKey.
func seriesByKey(m model.Matrix) map[string][]*model.SampleStream {
	out := make(map[string][]*model.SampleStream, len(m))
	for _, s := range m {
		l := s.Metric
		k := seriesKey(string(l[model.JobLabel]), string(l[model.InstanceLabel]),
			string(l[LabelAddress]), string(l["id"]))
		out[k] = append(out[k], s)
	}
	return out
}

// metricSeries builds one service's series of def from its part of a
// query's answer. When Prometheus refused the query, qe says why.
func metricSeries(def metricDef, query, scope string, qe *QueryError,
	m []*model.SampleStream) MetricSeries {
	ms := MetricSeries{
		Name: def.name, Title: def.title, Unit: def.unit, Scope: scope,
		Query: query, Points: []Point{},
	}
	if qe != nil {
		// The refused query covered every service; name this one's part.
		e := *qe
		e.Query, e.Line, e.Column = query, 0, 0
		ms.Error = e.Error()
		ms.Summary = summarize(nil)
		ms.Summary.NoData = true
		return ms
	}

	n := 0
	for _, s := range m {
		n += len(s.Values)
	}
	ms.Points = make([]Point, 0, n)
	vs := make([]float64, 0, n)
	for _, s := range m {
		for _, p := range s.Values {
			ms.Points = append(ms.Points, Point{T: p.Timestamp.Time().UTC(), V: Float(p.Value)})
			vs = append(vs, float64(p.Value))
		}
	}
	ms.Summary = summarize(vs)
	ms.Summary.NoData = len(m) == 0
	return ms
}

// targetSummary summarises the series of a's answer that belong to sr's
// target.
func targetSummary(a answer, sr *ServiceReport) Summary {
	if a.qe != nil {
		s := summarize(nil)
		s.NoData = true
		return s
	}
	var vs []float64
	found := false
	for _, s := range a.m {
		l := s.Metric
		if string(l[model.JobLabel]) != sr.Job || string(l[model.InstanceLabel]) != sr.Instance ||
			(sr.Address != "" && string(l[LabelAddress]) != sr.Address) {
			continue
		}
		found = true
		for _, p := range s.Values {
			vs = append(vs, float64(p.Value))
		}
	}
	s := summarize(vs)
	s.NoData = !found
	return s
}

// queryAll runs range queries over the report's window, at most
// reportConcurrency at once, and keeps their notes in the order of qs. A
// query Prometheus refuses is answered with its QueryError; any other
// failure ends them all and is returned.
func (b *reportBuilder) queryAll(ctx context.Context, qs []string) ([]answer, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	out := make([]answer, len(qs))
	sem := make(chan struct{}, reportConcurrency)
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i].err = ctx.Err()
				return
			}
			defer func() { <-sem }()

			res, err := b.c.rangeQuery(ctx, q, b.r, queryOptions{})
			var qe *QueryError
			switch {
			case errors.As(err, &qe):
				out[i].qe = qe
			case err != nil:
				out[i].err = err
				cancel()
			default:
				out[i].res = res
				out[i].m, _ = res.Value.(model.Matrix)
			}
		})
	}
	wg.Wait()

	var first error
	for _, a := range out {
		if a.err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = a.err
		}
		if a.res != nil {
			b.rep.Warnings = appendNew(b.rep.Warnings, a.res.Warnings...)
			b.rep.Infos = appendNew(b.rep.Infos, a.res.Infos...)
		}
	}
	return out, first
}
