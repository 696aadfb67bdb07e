package monitors

import (
	"errors"
	"math"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
)

// queryFixture sets up a running monitor on a stub that answers query with
// the named recording, and returns the Monitors and the monitor's ID.
func queryFixture(t *testing.T, query, name string) (*Monitors, *promStub, string) {
	t.Helper()
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	stub.on(query, fixture(t, name))
	return newTestMonitors(t, b), stub, svc.ID
}

func TestQueryMetricsDecodesValues(t *testing.T) {
	tests := []struct {
		name, query, fixture string
		check                func(t *testing.T, res *QueryResult)
	}{
		{"NaN scalar", "0/0", "query_nan", func(t *testing.T, res *QueryResult) {
			s, ok := res.Value.(*model.Scalar)
			require.True(t, ok, "got %T", res.Value)
			assert.True(t, math.IsNaN(float64(s.Value)))
			assert.Equal(t, int64(1700000000123), int64(s.Timestamp))
			assert.False(t, res.NoData(), "NaN is data")
		}},
		{"NaN in a vector", "nan_vector", "query_nan_vector", func(t *testing.T, res *QueryResult) {
			v := res.Value.(model.Vector)
			require.Len(t, v, 1)
			assert.True(t, math.IsNaN(float64(v[0].Value)))
			assert.False(t, res.NoData())
		}},
		{"+Inf vector", "vector(1)/0", "query_inf", func(t *testing.T, res *QueryResult) {
			v := res.Value.(model.Vector)
			require.Len(t, v, 1)
			assert.True(t, math.IsInf(float64(v[0].Value), 1))
		}},
		{"-Inf scalar", "-1/0", "query_neginf", func(t *testing.T, res *QueryResult) {
			assert.True(t, math.IsInf(float64(res.Value.(*model.Scalar).Value), -1))
		}},
		{"empty vector is NoData", "no_such_metric", "query_empty", func(t *testing.T,
			res *QueryResult) {
			assert.Equal(t, model.ValVector, res.Type())
			assert.True(t, res.NoData())
		}},
		{"scalar", "scalar(vector(1))", "query_scalar", func(t *testing.T, res *QueryResult) {
			assert.Equal(t, model.SampleValue(1), res.Value.(*model.Scalar).Value)
			assert.False(t, res.NoData())
		}},
		{"string", `"foo"`, "query_string", func(t *testing.T, res *QueryResult) {
			assert.Equal(t, "foo", res.Value.(*model.String).Value)
			assert.Equal(t, model.ValString, res.Type())
		}},
		{"labels kept", "up", "query_up", func(t *testing.T, res *QueryResult) {
			v := res.Value.(model.Vector)
			require.NotEmpty(t, v)
			assert.Equal(t, model.LabelValue("a_1"), v[0].Metric[LabelService])
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, id := queryFixture(t, tc.query, tc.fixture)
			res, err := m.QueryMetrics(ctxT(t), id, tc.query)
			require.NoError(t, err)
			assert.Equal(t, tc.query, res.Query)
			tc.check(t, res)
		})
	}
}

func TestQueryMetricsWarningsAndInfosAreNotErrors(t *testing.T) {
	t.Run("warnings and infos", func(t *testing.T) {
		m, _, id := queryFixture(t, "rate(cpu_seconds[1m])", "query_warnings_infos")
		res, err := m.QueryMetrics(ctxT(t), id, "rate(cpu_seconds[1m])")
		require.NoError(t, err)
		require.Len(t, res.Value.(model.Vector), 1)
		require.Len(t, res.Warnings, 1)
		require.Len(t, res.Infos, 1)
		assert.Contains(t, res.Infos[0], "might not be a counter")
	})
	t.Run("older server without infos", func(t *testing.T) {
		m, _, id := queryFixture(t, "up", "query_warnings_only")
		res, err := m.QueryMetrics(ctxT(t), id, "up")
		require.NoError(t, err)
		assert.Equal(t, []string{"partial response: remote storage unreachable"}, res.Warnings)
		assert.Empty(t, res.Infos)
		assert.Equal(t, model.SampleValue(0.25), res.Value.(model.Vector)[0].Value)
	})
}

func TestQueryMetricsSendsPasswordThroughExecutorDialer(t *testing.T) {
	m, stub, id := queryFixture(t, "up", "query_up")
	_, err := m.QueryMetrics(ctxT(t), id, "up")
	require.NoError(t, err)

	reqs := stub.requests()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		assert.True(t, r.authOK, "request %s without the password", r.path)
	}
}

func TestQueryMetricsAt(t *testing.T) {
	m, stub, id := queryFixture(t, "up", "query_up")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := m.QueryMetrics(ctxT(t), id, "up", At(at), WithTimeout(5*time.Second))
	require.NoError(t, err)
	assert.Equal(t, at, res.Time)
	require.NotEmpty(t, stub.requests())
}

func TestQueryErrors(t *testing.T) {
	tests := []struct {
		name, query, fixture string
		is                   []error
		isNot                []error
		typ                  v1.ErrorType
		line, col            int
	}{
		{"parse error keeps position", "sum(rate(up[1m])", "err_parse",
			[]error{ErrBadQuery}, []error{ErrQueryTimeout, ErrQueryTooLarge}, v1.ErrBadData, 1, 17},
		{"unexpected end", `up{job="x"} +`, "err_parse2",
			[]error{ErrBadQuery}, []error{ErrQueryTooLarge}, v1.ErrBadData, 1, 14},
		{"timeout", "slow", "err_timeout",
			[]error{ErrQueryTimeout}, []error{ErrBadQuery, ErrQueryTooLarge}, v1.ErrTimeout, 0, 0},
		{"too many samples", "big", "err_samples",
			[]error{ErrQueryTooLarge}, []error{ErrBadQuery, ErrQueryTimeout}, v1.ErrExec, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, id := queryFixture(t, tc.query, tc.fixture)
			_, err := m.QueryMetrics(ctxT(t), id, tc.query)
			require.Error(t, err)
			for _, want := range tc.is {
				assert.ErrorIs(t, err, want)
			}
			for _, not := range tc.isNot {
				assert.NotErrorIs(t, err, not)
			}

			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, tc.typ, qe.Type)
			assert.Equal(t, tc.query, qe.Query)
			assert.Equal(t, tc.line, qe.Line)
			assert.Equal(t, tc.col, qe.Column)

			var ae *v1.Error
			require.ErrorAs(t, err, &ae, "client_golang's error stays reachable")
			if tc.typ == v1.ErrTimeout {
				// client_golang decodes no 503 body: the type comes from
				// Detail.
				assert.Equal(t, v1.ErrServer, ae.Type)
			} else {
				assert.Equal(t, tc.typ, ae.Type)
			}
			assert.Contains(t, err.Error(), "monitors: ")
		})
	}
}

func TestQueryUnauthorized(t *testing.T) {
	m, _, id := queryFixture(t, "up", "query_up")
	b := m.b.(*fakeBackend)
	writeRunFile(t, b.svcs[id].RunDir, passwordFile, "wrong\n")

	_, err := m.QueryMetrics(ctxT(t), id, "up")
	require.ErrorIs(t, err, ErrUnauthorized)
}

func TestQueryNotRunning(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	b.set(svc.ID, func(s *servers.Service) { s.State = slurm.StateCompleted })
	m := newTestMonitors(t, b)

	_, err := m.QueryMetrics(ctxT(t), svc.ID, "up")
	require.ErrorIs(t, err, ErrNotRunning)
	assert.Empty(t, stub.requests())
}

func TestQueryForgetsUnreachableMonitor(t *testing.T) {
	m, stub, id := queryFixture(t, "up", "query_up")
	_, err := m.QueryMetrics(ctxT(t), id, "up")
	require.NoError(t, err)

	stub.srv.Close()
	_, err = m.QueryMetrics(ctxT(t), id, "up")
	require.Error(t, err)
	var qe *QueryError
	assert.False(t, errors.As(err, &qe))

	m.b.(*fakeBackend).set(id, func(s *servers.Service) { s.State = slurm.StateCompleted })
	_, err = m.QueryMetrics(ctxT(t), id, "up")
	require.ErrorIs(t, err, ErrNotRunning, "the dead connection was not cached")
}

func TestFitStep(t *testing.T) {
	t0 := time.Unix(0, 0)
	tests := []struct {
		name         string
		span         time.Duration
		step, scrape time.Duration
		want         time.Duration
	}{
		{"kept", time.Hour, 15 * time.Second, 15 * time.Second, 15 * time.Second},
		{"zero step is the scrape interval", time.Hour, 0, 5 * time.Second, 5 * time.Second},
		{"zero scrape means 15s", time.Hour, 0, 0, 15 * time.Second},
		{"exactly 11000 points", 11000 * time.Second, time.Second, time.Second, time.Second},
		{"one day at 1s is raised", 24 * time.Hour, time.Second, 15 * time.Second,
			15 * time.Second},
		{"15 days at 15s", 15 * 24 * time.Hour, 15 * time.Second, 15 * time.Second,
			120 * time.Second},
		{"raised to a scrape multiple", 30 * 24 * time.Hour, 0, 10 * time.Second,
			240 * time.Second},
		{"empty range", 0, 0, 15 * time.Second, 15 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FitStep(t0, t0.Add(tc.span), tc.step, tc.scrape)
			assert.Equal(t, tc.want, got)
			if tc.span > 0 {
				assert.LessOrEqual(t, int64(tc.span/got), int64(MaxPoints))
			}
		})
	}
}

func TestQueryRangeRaisesStep(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	rec := &record{Version: recordVersion, ScrapeInterval: "15s", Jobs: []scrapeJob{}}
	svc := runningMonitor(t, b, stub, rec)
	stub.onRange("up", func(r v1.Range) stubResp {
		if r.End.Sub(r.Start)/r.Step > MaxPoints {
			return fixture(t, "err_points")
		}
		return fixture(t, "range_empty")
	})
	m := newTestMonitors(t, b)

	end := time.Unix(1_800_000_000, 0).UTC()
	res, err := m.QueryRange(ctxT(t), svc.ID, "up",
		v1.Range{Start: end.Add(-7 * 24 * time.Hour), End: end, Step: time.Second})
	require.NoError(t, err)
	assert.Equal(t, model.ValMatrix, res.Type(), "an empty range result is still a matrix")
	assert.True(t, res.NoData())
	assert.Equal(t, 60*time.Second, res.Range.Step, "a week at 1s raised to a 15s multiple")

	sent := stub.rangeRequests("up")
	require.Len(t, sent, 1)
	assert.Equal(t, 60*time.Second, sent[0].Step)
}

func TestQueryRangeSplitsWhenTooLarge(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	series := []map[string]string{{"__name__": "up", "job": "a"}, {"__name__": "up", "job": "b"}}
	stub.onRange("up", func(r v1.Range) stubResp {
		if r.End.Sub(r.Start) > 10*time.Minute {
			return fixture(t, "err_samples")
		}
		return stubResp{200, matrixJSON(r, series, func(i int, ts time.Time) string {
			return "1"
		})}
	})
	m := newTestMonitors(t, b)

	start := time.Unix(1_800_000_000, 0).UTC()
	r := v1.Range{Start: start, End: start.Add(30 * time.Minute), Step: 15 * time.Second}
	res, err := m.QueryRange(ctxT(t), svc.ID, "up", r)
	require.NoError(t, err)

	mat := res.Value.(model.Matrix)
	require.Len(t, mat, 2)
	want := int(r.End.Sub(r.Start)/r.Step) + 1
	for _, s := range mat {
		require.Len(t, s.Values, want, "every step once, no overlap at the seams")
		for i := 1; i < len(s.Values); i++ {
			assert.Equal(t, 15*time.Second,
				s.Values[i].Timestamp.Time().Sub(s.Values[i-1].Timestamp.Time()))
		}
	}
	assert.Greater(t, len(stub.rangeRequests("up")), 2)
}

func TestQueryRangeTimeoutRetriedOnce(t *testing.T) {
	start := time.Unix(1_800_000_000, 0).UTC()
	r := v1.Range{Start: start, End: start.Add(time.Hour), Step: time.Minute}

	t.Run("halves succeed", func(t *testing.T) {
		stub := newPromStub(t)
		b := newFakeBackend(t)
		svc := runningMonitor(t, b, stub, nil)
		stub.onRange("q", func(got v1.Range) stubResp {
			if got.Start.Equal(r.Start) && got.End.Equal(r.End) {
				return fixture(t, "err_timeout")
			}
			return stubResp{200, matrixJSON(got, []map[string]string{{"job": "a"}},
				func(int, time.Time) string { return "2" })}
		})
		m := newTestMonitors(t, b)

		res, err := m.QueryRange(ctxT(t), svc.ID, "q", r)
		require.NoError(t, err)
		assert.Len(t, res.Value.(model.Matrix)[0].Values, 61)
		assert.Len(t, stub.rangeRequests("q"), 3)
	})

	t.Run("halves time out too", func(t *testing.T) {
		stub := newPromStub(t)
		b := newFakeBackend(t)
		svc := runningMonitor(t, b, stub, nil)
		stub.onRange("q", func(v1.Range) stubResp { return fixture(t, "err_timeout") })
		m := newTestMonitors(t, b)

		_, err := m.QueryRange(ctxT(t), svc.ID, "q", r)
		require.ErrorIs(t, err, ErrQueryTimeout)
		assert.Len(t, stub.rangeRequests("q"), 2, "the whole range, then one half; no deeper")
	})
}

func TestQueryRangeBadQueryNotRetried(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	stub.onRange("up[1m]", func(v1.Range) stubResp { return fixture(t, "err_matrix_range") })
	m := newTestMonitors(t, b)

	start := time.Unix(1_800_000_000, 0)
	_, err := m.QueryRange(ctxT(t), svc.ID, "up[1m]",
		v1.Range{Start: start, End: start.Add(time.Hour), Step: time.Minute})
	require.ErrorIs(t, err, ErrBadQuery)
	assert.Len(t, stub.rangeRequests("up[1m]"), 1)
}

func TestParsePosition(t *testing.T) {
	tests := []struct {
		msg       string
		line, col int
	}{
		{`invalid parameter "query": 1:17: parse error: unclosed left parenthesis`, 1, 17},
		{`1:5: parse error: unexpected <op:*>`, 1, 5},
		{"3:12: parse error: unexpected identifier", 3, 12},
		{"parse error at char 9: unexpected end of input", 1, 9},
		{"exceeded maximum resolution of 11,000 points per timeseries", 0, 0},
		{"", 0, 0},
	}
	for _, tc := range tests {
		line, col := parsePosition(tc.msg)
		assert.Equal(t, tc.line, line, tc.msg)
		assert.Equal(t, tc.col, col, tc.msg)
	}
}

func TestTooManyPointsIsBothBadAndTooLarge(t *testing.T) {
	qe := &QueryError{Type: v1.ErrBadData,
		Msg: "exceeded maximum resolution of 11,000 points per timeseries. " +
			"Try decreasing the query resolution (?step=XX)"}
	assert.ErrorIs(t, qe, ErrBadQuery)
	assert.ErrorIs(t, qe, ErrQueryTooLarge)
}

func TestMergeMatrices(t *testing.T) {
	a := model.Matrix{{Metric: model.Metric{"job": "x"},
		Values: []model.SamplePair{{Timestamp: 1000, Value: 1}}}}
	b := model.Matrix{
		{Metric: model.Metric{"job": "x"}, Values: []model.SamplePair{{Timestamp: 2000, Value: 2}}},
		{Metric: model.Metric{"job": "a"}, Values: []model.SamplePair{{Timestamp: 2000, Value: 3}}},
	}
	got := mergeMatrices(a, b)
	require.Len(t, got, 2)
	assert.Equal(t, model.LabelValue("a"), got[0].Metric["job"], "sorted by labels")
	assert.Equal(t, []model.SamplePair{{Timestamp: 1000, Value: 1}, {Timestamp: 2000, Value: 2}},
		got[1].Values)
	assert.Len(t, a[0].Values, 1, "inputs untouched")
}
