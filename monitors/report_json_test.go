package monitors

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEncodeReportIsJSONMarshal: the report's fast encoder writes exactly
// what json.Marshal writes, for odd values and strings that look like the
// key it replaces.
func TestEncodeReportIsJSONMarshal(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 500, time.UTC)
	pts := []Point{{T: t0, V: 1.5}, {T: t0.Add(15 * time.Second), V: Float(math.NaN())},
		{T: t0.Add(30 * time.Second), V: Float(math.Inf(1))}, {T: t0.Add(45 * time.Second),
			V: Float(math.Inf(-1))}, {T: t0.Add(time.Minute), V: 1e-300}, {T: t0, V: -0.25}}
	rep := &Report{MonitorID: "prometheus_0a1b2c3d", Start: t0, End: t0.Add(time.Hour),
		Warnings: []string{`"points":null`}, Infos: []string{"<b>&</b>"},
		Services: []ServiceReport{
			{Service: "a", Metrics: []MetricSeries{
				{Name: "cpu", Query: `sum(x{id="\"points\":null"})`, Points: pts,
					Summary: summarize([]float64{1, math.NaN()})},
				{Name: "memory_usage", Points: []Point{}, Error: `"points":null`},
			}},
			{Service: "b", Metrics: []MetricSeries{{Name: "cpu", Points: pts[:1]}}},
			{Service: "c", Metrics: []MetricSeries{}},
		}}

	want, err := json.Marshal(rep)
	require.NoError(t, err)
	got, err := encodeReport(rep)
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
	require.Equal(t, string(want), string(got))
	require.Len(t, rep.Services[0].Metrics[0].Points, len(pts), "rep is left as it was")
}
