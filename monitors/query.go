package monitors

import (
	"context"
	"errors"
	"sort"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// MaxPoints is the most points per series Prometheus returns for a range
// query; it refuses a range whose (end-start)/step is larger. QueryRange
// raises the step to stay within it.
const MaxPoints = 11000

// maxSplitDepth bounds how often a range query that is too large is halved:
// at most 2^maxSplitDepth requests.
const maxSplitDepth = 4

// QueryResult is what Prometheus answered to one query.
type QueryResult struct {
	// Query is the PromQL that was evaluated.
	Query string

	// Value is the result: a model.Vector or *model.Scalar or
	// *model.String for an instant query, a model.Matrix for a range
	// query. NaN and ±Inf samples decode to math.NaN() and ±Inf.
	Value model.Value

	// Warnings are Prometheus' warnings about the result (such as a
	// partial answer). They are information, never a failure.
	Warnings []string

	// Infos are Prometheus' informational notes about the query (such as
	// a rate() over a metric that does not look like a counter). Servers
	// older than Prometheus 2.50 send none.
	Infos []string

	// Time is the evaluation time of an instant query, zero for a range
	// query.
	Time time.Time

	// Range is the range and step of a range query, with the step actually
	// used (see QueryRange); zero for an instant query.
	Range v1.Range
}

// NoData reports whether the query matched nothing: an empty vector or
// matrix, or no value at all. It is not the same as a value of 0 or NaN
// (an idle job's rate() can be NaN, which is data).
func (r *QueryResult) NoData() bool {
	switch v := r.Value.(type) {
	case nil:
		return true
	case model.Vector:
		return len(v) == 0
	case model.Matrix:
		return len(v) == 0
	}
	return false
}

// Type returns the result's type: "vector", "matrix", "scalar" or "string".
func (r *QueryResult) Type() model.ValueType {
	if r.Value == nil {
		return model.ValNone
	}
	return r.Value.Type()
}

// String formats the result as Prometheus' text form, one sample or series
// per line.
func (r *QueryResult) String() string {
	if r.Value == nil {
		return ""
	}
	return r.Value.String()
}

// QueryOption changes one query. Options apply in order.
type QueryOption func(*queryOptions)

type queryOptions struct {
	at      time.Time
	rng     *v1.Range
	timeout time.Duration
}

// At evaluates an instant query at t instead of now.
func At(t time.Time) QueryOption {
	return func(o *queryOptions) { o.at = t }
}

// OverRange makes CollectMetricsToFile run a range query over r instead
// of an instant query. A zero Step means the monitor's scrape interval.
func OverRange(r v1.Range) QueryOption {
	return func(o *queryOptions) { rr := r; o.rng = &rr }
}

// WithTimeout asks Prometheus to give up evaluating the query after d
// (its timeout parameter). It does not replace ctx's deadline.
func WithTimeout(d time.Duration) QueryOption {
	return func(o *queryOptions) { o.timeout = d }
}

func applyOptions(opts []QueryOption) queryOptions {
	var o queryOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

func (o queryOptions) v1() []v1.Option {
	if o.timeout > 0 {
		return []v1.Option{v1.WithTimeout(o.timeout)}
	}
	return nil
}

// instant runs an instant query on c.
func (c *conn) instant(ctx context.Context, query string, o queryOptions) (*QueryResult, error) {
	at := o.at
	if at.IsZero() {
		at = time.Now()
	}

	val, warns, infos, err := c.api.Query(ctx, query, at, o.v1()...)
	if stringResult(err) {
		return c.rawQuery(ctx, query, at, o.timeout)
	}
	if err != nil {
		return nil, queryError(query, err)
	}
	return &QueryResult{Query: query, Value: val, Warnings: warns, Infos: infos, Time: at}, nil
}

// rangeQuery runs a range query on c with the step fitted to MaxPoints,
// halving the range when Prometheus finds it too large (and once when it
// times out) and merging the parts.
func (c *conn) rangeQuery(ctx context.Context, query string, r v1.Range,
	o queryOptions) (*QueryResult, error) {
	if r.End.Before(r.Start) {
		r.Start, r.End = r.End, r.Start
	}
	r.Step = FitStep(r.Start, r.End, r.Step, c.scrape)

	res := &QueryResult{Query: query, Range: r}
	m, err := c.rangeParts(ctx, query, r, o, res, 0, false)
	if err != nil {
		return nil, err
	}
	res.Value = m
	return res, nil
}

// rangeParts queries r, or its two halves when Prometheus refuses r as too
// large or too slow, and returns the merged matrix. Warnings and infos
// accumulate in res.
func (c *conn) rangeParts(ctx context.Context, query string, r v1.Range, o queryOptions,
	res *QueryResult, depth int, timedOut bool) (model.Matrix, error) {
	val, warns, infos, err := c.api.QueryRange(ctx, query, r, o.v1()...)
	res.Warnings = appendNew(res.Warnings, warns...)
	res.Infos = appendNew(res.Infos, infos...)
	if err == nil {
		m, _ := val.(model.Matrix)
		return m, nil
	}

	qerr := queryError(query, err)
	left, right, ok := splitRange(r)
	tooLarge := errors.Is(qerr, ErrQueryTooLarge) && depth < maxSplitDepth
	slow := errors.Is(qerr, ErrQueryTimeout) && !timedOut
	if !ok || ctx.Err() != nil || (!tooLarge && !slow) {
		return nil, qerr
	}

	timedOut = timedOut || slow
	a, err := c.rangeParts(ctx, query, left, o, res, depth+1, timedOut)
	if err != nil {
		return nil, err
	}
	b, err := c.rangeParts(ctx, query, right, o, res, depth+1, timedOut)
	if err != nil {
		return nil, err
	}
	return mergeMatrices(a, b), nil
}

// FitStep returns the step for a range query from start to end: step
// itself when it is positive and small enough, else the scrape interval
// (15 s when unknown), raised where needed so that (end-start)/step stays
// within MaxPoints. A raised step is rounded up to a multiple of the scrape
// interval, so that every point lands on fresh data.
func FitStep(start, end time.Time, step, scrape time.Duration) time.Duration {
	if scrape <= 0 {
		scrape = 15 * time.Second
	}
	if step <= 0 {
		step = scrape
	}

	span := end.Sub(start)
	if span <= 0 || span/step <= MaxPoints {
		return step
	}

	min := (span + MaxPoints - 1) / MaxPoints
	return (min + scrape - 1) / scrape * scrape
}

// splitRange cuts r in two on its step grid: [start, mid] and
// [mid+step, end]. It reports false when r holds too few points to split.
func splitRange(r v1.Range) (v1.Range, v1.Range, bool) {
	if r.Step <= 0 {
		return r, r, false
	}
	n := int64(r.End.Sub(r.Start) / r.Step)
	if n < 2 {
		return r, r, false
	}

	mid := r.Start.Add(time.Duration(n/2) * r.Step)
	left := v1.Range{Start: r.Start, End: mid, Step: r.Step}
	right := v1.Range{Start: mid.Add(r.Step), End: r.End, Step: r.Step}
	return left, right, true
}

// mergeMatrices joins the series of two matrices over consecutive ranges,
// matching series by their labels. The result is sorted by labels.
func mergeMatrices(a, b model.Matrix) model.Matrix {
	byFP := make(map[model.Fingerprint]*model.SampleStream, len(a))
	out := make(model.Matrix, 0, len(a)+len(b))
	for _, part := range []model.Matrix{a, b} {
		for _, s := range part {
			fp := s.Metric.Fingerprint()
			if have, ok := byFP[fp]; ok {
				have.Values = append(have.Values, s.Values...)
				have.Histograms = append(have.Histograms, s.Histograms...)
				continue
			}
			cp := &model.SampleStream{
				Metric:     s.Metric,
				Values:     append([]model.SamplePair(nil), s.Values...),
				Histograms: append([]model.SampleHistogramPair(nil), s.Histograms...),
			}
			byFP[fp] = cp
			out = append(out, cp)
		}
	}
	sort.Sort(out)
	return out
}

// appendNew appends the strings of add that dst does not hold yet.
func appendNew(dst []string, add ...string) []string {
	for _, s := range add {
		found := false
		for _, d := range dst {
			if d == s {
				found = true
				break
			}
		}
		if !found {
			dst = append(dst, s)
		}
	}
	return dst
}
