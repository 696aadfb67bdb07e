package monitors

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// DefaultShowQuery is the query ShowMetrics runs when given none.
const DefaultShowQuery = "up"

// QueryMetrics evaluates an instant PromQL query on a running monitor, now
// or at the time At gives. The request goes through the Executor's dialer
// (or Options.HTTPClient) with the monitor's password: no curl on the login
// node, no local port.
//
// The result keeps Prometheus' warnings and infos, which are never errors.
// An empty result is not an error either: QueryResult.NoData says so. A
// query Prometheus refuses is a *QueryError that errors.Is matches against
// ErrBadQuery (with the position of a parse error), ErrQueryTimeout or
// ErrQueryTooLarge.
func (m *Monitors) QueryMetrics(ctx context.Context, id, promql string,
	opts ...QueryOption) (*QueryResult, error) {
	c, err := m.conn(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := c.instant(ctx, promql, applyOptions(opts))
	return res, m.checkReach(id, c, err)
}

// QueryRange evaluates a PromQL range query on a running monitor. A zero
// r.Step means the monitor's scrape interval. The step is raised when
// needed so that no series exceeds MaxPoints points (see FitStep); the
// result's Range says which step was used. When Prometheus still finds the
// query too large, or once when it times out, the range is split in halves
// whose results are merged.
func (m *Monitors) QueryRange(ctx context.Context, id, promql string, r v1.Range,
	opts ...QueryOption) (*QueryResult, error) {
	c, err := m.conn(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := c.rangeQuery(ctx, promql, r, applyOptions(opts))
	return res, m.checkReach(id, c, err)
}

// ShowMetrics runs an instant query for display, DefaultShowQuery ("up")
// when promql is empty. The result's String method formats it.
func (m *Monitors) ShowMetrics(ctx context.Context, id, promql string) (*QueryResult, error) {
	if strings.TrimSpace(promql) == "" {
		promql = DefaultShowQuery
	}
	return m.QueryMetrics(ctx, id, promql)
}

// MetricGroup is metric names that share a prefix.
type MetricGroup struct {
	// Prefix is the names' common start without the trailing "_", such
	// as "container_memory" or "go".
	Prefix string `json:"prefix"`
	// Names are the metric names, sorted.
	Names []string `json:"names"`
}

// splitGroup is the group size above which a group is split by its
// names' first two words.
const splitGroup = 12

// ListAvailableMetrics lists the metric names a running monitor holds,
// grouped by prefix: by their first word ("go", "process", "scrape"),
// and, for a family of more than a dozen names, by their first two words
// ("container_cpu", "container_memory", "container_network",
// "container_fs"), the way the reference tool's metrics reference groups
// cAdvisor's metrics. Groups and names are sorted.
func (m *Monitors) ListAvailableMetrics(ctx context.Context, id string) ([]MetricGroup, error) {
	c, err := m.conn(ctx, id)
	if err != nil {
		return nil, err
	}
	vals, _, _, err := c.api.LabelValues(ctx, "__name__", nil, time.Time{}, time.Time{})
	if err != nil {
		return nil, m.checkReach(id, c, apiError(id+": metric names", err))
	}

	names := make([]string, 0, len(vals))
	for _, v := range vals {
		names = append(names, string(v))
	}
	return groupMetrics(names), nil
}

// groupMetrics groups names as ListAvailableMetrics describes.
func groupMetrics(names []string) []MetricGroup {
	byFirst := map[string][]string{}
	for _, n := range names {
		byFirst[prefixOf(n, 1)] = append(byFirst[prefixOf(n, 1)], n)
	}

	groups := map[string][]string{}
	for first, ns := range byFirst {
		if len(ns) <= splitGroup {
			groups[first] = append(groups[first], ns...)
			continue
		}
		for _, n := range ns {
			groups[prefixOf(n, 2)] = append(groups[prefixOf(n, 2)], n)
		}
	}

	out := make([]MetricGroup, 0, len(groups))
	for p, ns := range groups {
		sort.Strings(ns)
		out = append(out, MetricGroup{Prefix: p, Names: ns})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out
}

// prefixOf returns the first n "_"-separated words of name; a name with n
// words or fewer is its own first word's group.
func prefixOf(name string, n int) string {
	words := strings.Split(name, "_")
	if len(words) <= n {
		return words[0]
	}
	return strings.Join(words[:n], "_")
}

// CollectMetricsToFile runs a query on a running monitor and writes its
// result to file as JSON (see MetricsFile) with its provenance: the query,
// its evaluation time (or range and step, with OverRange), the monitor's
// ID and its Prometheus version. A relative file name is taken inside
// Options.MetricsDir, which is created when missing. It returns the path
// written.
func (m *Monitors) CollectMetricsToFile(ctx context.Context, id, promql, file string,
	opts ...QueryOption) (string, error) {
	path, err := outputPath(m.opts.MetricsDir, file)
	if err != nil {
		return "", err
	}

	c, err := m.conn(ctx, id)
	if err != nil {
		return "", err
	}
	o := applyOptions(opts)
	var res *QueryResult
	if o.rng != nil {
		res, err = c.rangeQuery(ctx, promql, *o.rng, o)
	} else {
		res, err = c.instant(ctx, promql, o)
	}
	if err != nil {
		return "", m.checkReach(id, c, err)
	}

	version, err := c.version(ctx)
	if err != nil {
		return "", m.checkReach(id, c, err)
	}
	f, err := newMetricsFile(c.id, version, res)
	if err != nil {
		return "", err
	}
	if err := writeJSON(path, f); err != nil {
		return "", fmt.Errorf("monitors: collect %q: %w", promql, err)
	}
	return path, nil
}
