package monitors

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCollectMetricsToFileInstant(t *testing.T) {
	m, _, id := queryFixture(t, "vector(1)/0", "query_inf")
	path, err := m.CollectMetricsToFile(ctxT(t), id, "vector(1)/0", "inf.json")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(m.opts.MetricsDir, "inf.json"), path,
		"relative names land in MetricsDir")

	f, err := ReadMetricsFile(path)
	require.NoError(t, err)
	assert.Equal(t, "vector(1)/0", f.Query)
	assert.Equal(t, id, f.MonitorID)
	assert.Equal(t, "2.42.0+ds", f.PrometheusVersion, "from /api/v1/status/buildinfo")
	require.NotNil(t, f.EvalTime)
	assert.Nil(t, f.Range)
	assert.Equal(t, "vector", f.ResultType)
	assert.False(t, f.NoData)
	assert.Equal(t, []string{}, f.Warnings)

	v, err := f.Value()
	require.NoError(t, err)
	assert.True(t, math.IsInf(float64(v.(model.Vector)[0].Value), 1), "+Inf survives the file")
}

func TestCollectMetricsToFileNaNAndEmpty(t *testing.T) {
	m, stub, id := queryFixture(t, "0/0", "query_nan")
	stub.on("no_such_metric", fixture(t, "query_empty"))
	abs := filepath.Join(t.TempDir(), "sub", "nan.json")

	path, err := m.CollectMetricsToFile(ctxT(t), id, "0/0", abs)
	require.NoError(t, err)
	assert.Equal(t, abs, path, "absolute names are kept")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"NaN"`)
	f, err := ReadMetricsFile(path)
	require.NoError(t, err)
	v, err := f.Value()
	require.NoError(t, err)
	assert.True(t, math.IsNaN(float64(v.(*model.Scalar).Value)))

	path, err = m.CollectMetricsToFile(ctxT(t), id, "no_such_metric", "empty.json")
	require.NoError(t, err)
	f, err = ReadMetricsFile(path)
	require.NoError(t, err)
	assert.True(t, f.NoData)
	v, err = f.Value()
	require.NoError(t, err)
	assert.Empty(t, v.(model.Vector))
}

func TestCollectMetricsToFileRange(t *testing.T) {
	stub := newPromStub(t)
	b := newFakeBackend(t)
	svc := runningMonitor(t, b, stub, nil)
	stub.onRange("up", func(r v1.Range) stubResp {
		return stubResp{200, matrixJSON(r, []map[string]string{{"job": "a"}},
			func(_ int, ts time.Time) string {
				if ts.Unix()%60 == 0 {
					return "NaN"
				}
				return "1"
			})}
	})
	m := newTestMonitors(t, b)

	start := time.Unix(1_800_000_000, 0).UTC()
	r := v1.Range{Start: start, End: start.Add(5 * time.Minute), Step: 15 * time.Second}
	path, err := m.CollectMetricsToFile(ctxT(t), svc.ID, "up", "range.json", OverRange(r))
	require.NoError(t, err)

	f, err := ReadMetricsFile(path)
	require.NoError(t, err)
	assert.Nil(t, f.EvalTime)
	require.NotNil(t, f.Range)
	assert.Equal(t, FileRange{Start: r.Start, End: r.End, Step: "15s", StepSeconds: 15}, *f.Range)
	v, err := f.Value()
	require.NoError(t, err)
	mat := v.(model.Matrix)
	require.Len(t, mat, 1)
	assert.Len(t, mat[0].Values, 21)
	assert.True(t, math.IsNaN(float64(mat[0].Values[0].Value)))
}

func TestCollectMetricsToFileBadQueryWritesNothing(t *testing.T) {
	m, _, id := queryFixture(t, "sum(rate(up[1m])", "err_parse")
	_, err := m.CollectMetricsToFile(ctxT(t), id, "sum(rate(up[1m])", "bad.json")
	require.ErrorIs(t, err, ErrBadQuery)
	_, statErr := os.Stat(filepath.Join(m.opts.MetricsDir, "bad.json"))
	assert.True(t, os.IsNotExist(statErr))
}

func TestFloatJSON(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{1.5, "1.5"}, {0, "0"}, {-2, "-2"}, {1e300, "1e+300"},
		{math.NaN(), `"NaN"`}, {math.Inf(1), `"+Inf"`}, {math.Inf(-1), `"-Inf"`},
	}
	for _, tc := range tests {
		data, err := json.Marshal(struct{ V Float }{Float(tc.v)})
		require.NoError(t, err)
		assert.Equal(t, `{"V":`+tc.want+`}`, string(data))

		var back struct{ V Float }
		require.NoError(t, json.Unmarshal(data, &back))
		if math.IsNaN(tc.v) {
			assert.True(t, math.IsNaN(float64(back.V)))
		} else {
			assert.Equal(t, tc.v, float64(back.V))
		}
	}

	var f Float
	require.NoError(t, json.Unmarshal([]byte(`"Inf"`), &f))
	assert.True(t, math.IsInf(float64(f), 1))
	assert.Error(t, json.Unmarshal([]byte(`"many"`), &f))

	_, err := json.Marshal(math.NaN())
	require.Error(t, err, "what Float avoids: encoding/json refuses NaN")
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{5, 1, math.NaN(), 3, math.Inf(1), 2, 4})
	assert.Equal(t, Float(1), s.Min)
	assert.Equal(t, Float(5), s.Max)
	assert.Equal(t, Float(3), s.Mean)
	assert.Equal(t, Float(5), s.P95)
	assert.Equal(t, 5, s.Samples)
	assert.Equal(t, 1, s.NaN)
	assert.Equal(t, 1, s.Inf)

	var hundred []float64
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, float64(i))
	}
	assert.Equal(t, Float(95), summarize(hundred).P95, "nearest rank")

	empty := summarize(nil)
	assert.True(t, math.IsNaN(float64(empty.Mean)))
	data, err := json.Marshal(empty)
	require.NoError(t, err, "a summary of nothing still encodes")
	assert.True(t, strings.Contains(string(data), `"min":"NaN"`), string(data))
}
