package monitors

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chartPoints is the most points a chart draws; longer series are reduced
// to the minimum and maximum of each bucket, which keeps their peaks.
const chartPoints = 1200

// Chart size in the page.
const (
	chartWidth  = 17 * vg.Centimeter
	chartHeight = 6 * vg.Centimeter
)

// renderHTML renders rep as one self-contained HTML page: inline CSS and
// inline SVG charts, no script and nothing to fetch. Charts are drawn on
// every CPU at once: a report over many services has hundreds.
func renderHTML(rep *Report) ([]byte, error) {
	view := htmlView{Report: rep}
	type chart struct{ s, m int }
	var charts []chart
	for i, s := range rep.Services {
		sv := serviceView{ServiceReport: s, Metrics: make([]metricView, len(s.Metrics))}
		for k, ms := range s.Metrics {
			sv.Metrics[k] = metricView{MetricSeries: ms}
			if len(ms.Points) > 0 {
				charts = append(charts, chart{i, k})
			}
		}
		view.Services = append(view.Services, sv)
	}

	errs := make([]error, len(charts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(charts)) {
		wg.Go(func() {
			for j := range next {
				c := charts[j]
				sv := &view.Services[c.s]
				mv := &sv.Metrics[c.m]
				svg, err := chartSVG(sv.Service+": "+mv.Title, mv.MetricSeries)
				mv.Chart, errs[j] = template.HTML(svg), err // text escaped by svgo
			}
		})
	}
	for j := range charts {
		next <- j
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, view); err != nil {
		return nil, fmt.Errorf("monitors: render report: %w", err)
	}
	return b.Bytes(), nil
}

type htmlView struct {
	*Report
	Services []serviceView
}

type serviceView struct {
	ServiceReport
	Metrics []metricView
}

type metricView struct {
	MetricSeries
	Chart template.HTML
}

// chartSVG draws one series as an SVG line chart with a time axis. NaN
// and infinite points break the line.
// seriesColor is the colour of every chart's series.
var seriesColor = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}

func chartSVG(title string, ms MetricSeries) (string, error) {
	div, unit := scaleFor(ms.Unit, maxFinite(ms.Points))

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time (UTC)"
	p.Y.Label.Text = unit
	p.X.Tick.Marker = plot.TimeTicks{Format: timeFormat(ms.Points)}
	p.Add(plotter.NewGrid())

	for _, seg := range segments(reduce(ms.Points, chartPoints)) {
		xys := make(plotter.XYs, len(seg))
		for i, pt := range seg {
			xys[i] = plotter.XY{X: float64(pt.T.UnixNano()) / 1e9, Y: float64(pt.V) / div}
		}
		if len(xys) == 1 {
			// A line through one point draws nothing: mark the point.
			dot, err := plotter.NewScatter(xys)
			if err != nil {
				return "", fmt.Errorf("monitors: chart %s: %w", title, err)
			}
			dot.Color = seriesColor
			dot.Radius = vg.Points(2.5)
			p.Add(dot)
			continue
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return "", fmt.Errorf("monitors: chart %s: %w", title, err)
		}
		line.Color = seriesColor
		line.Width = vg.Points(1.2)
		p.Add(line)
	}

	c := vgsvg.New(chartWidth, chartHeight)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("monitors: chart %s: %w", title, err)
	}
	return inlineSVG(b.String()), nil
}

// inlineSVG strips the XML prolog and comments that open svgo's output,
// so the SVG element can sit inside HTML.
func inlineSVG(s string) string {
	if i := strings.Index(s, "<svg"); i >= 0 {
		return s[i:]
	}
	return s
}

// segments splits points into runs of finite values.
func segments(pts []Point) [][]Point {
	var out [][]Point
	var cur []Point
	for _, p := range pts {
		v := float64(p.V)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, p)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// reduce returns at most about n points of pts: for longer series the
// minimum and maximum of each of n/2 buckets, in time order. NaN points
// are kept as breaks.
func reduce(pts []Point, n int) []Point {
	if len(pts) <= n {
		return pts
	}
	buckets := n / 2
	size := (len(pts) + buckets - 1) / buckets
	out := make([]Point, 0, n+2)
	for i := 0; i < len(pts); i += size {
		b := pts[i:min(i+size, len(pts))]
		lo, hi, gap := -1, -1, -1
		for j, p := range b {
			v := float64(p.V)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				gap = j
				continue
			}
			if lo < 0 || v < float64(b[lo].V) {
				lo = j
			}
			if hi < 0 || v > float64(b[hi].V) {
				hi = j
			}
		}
		out = append(out, pickOrdered(b, lo, hi, gap)...)
	}
	return out
}

// pickOrdered returns the points of b at the given indexes (-1 skips),
// in time order, without repeats.
func pickOrdered(b []Point, idx ...int) []Point {
	seen := map[int]bool{}
	var keep []int
	for _, i := range idx {
		if i >= 0 && !seen[i] {
			seen[i] = true
			keep = append(keep, i)
		}
	}
	for i := 1; i < len(keep); i++ {
		for j := i; j > 0 && keep[j] < keep[j-1]; j-- {
			keep[j], keep[j-1] = keep[j-1], keep[j]
		}
	}
	out := make([]Point, len(keep))
	for i, k := range keep {
		out[i] = b[k]
	}
	return out
}

// maxFinite returns the largest finite absolute value of pts, or 0.
func maxFinite(pts []Point) float64 {
	m := 0.0
	for _, p := range pts {
		v := math.Abs(float64(p.V))
		if !math.IsNaN(v) && !math.IsInf(v, 0) && v > m {
			m = v
		}
	}
	return m
}

// scaleFor returns the divisor and unit label that show values up to max
// in readable numbers: bytes as KiB, MiB or GiB.
func scaleFor(unit string, max float64) (float64, string) {
	base, rest, ok := strings.Cut(unit, "/")
	if base != "bytes" {
		return 1, unit
	}
	suffix := ""
	if ok {
		suffix = "/" + rest
	}
	for _, u := range []struct {
		div  float64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if max >= u.div {
			return u.div, u.name + suffix
		}
	}
	return 1, unit
}

// timeFormat picks the time axis format for the span of pts.
func timeFormat(pts []Point) string {
	var span time.Duration
	if len(pts) > 1 {
		span = pts[len(pts)-1].T.Sub(pts[0].T)
	}
	switch {
	case span < time.Hour:
		return "15:04:05"
	case span < 24*time.Hour:
		return "15:04"
	}
	return "01-02 15:04"
}

// formatValue formats a summary value with its unit for the tables.
func formatValue(v Float, unit string) string {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	div, u := scaleFor(unit, math.Abs(f))
	return strconv.FormatFloat(f/div, 'f', 3, 64) + " " + u
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"value": formatValue,
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
	"pct": func(f Float) string {
		if math.IsNaN(float64(f)) {
			return "n/a"
		}
		return strconv.FormatFloat(float64(f)*100, 'f', 1, 64) + " %"
	},
	"secs": func(s float64) string {
		return (time.Duration(s) * time.Second).String()
	},
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hpcorch report: {{.MonitorID}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 60em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.down { color: #b00; } .muted { color: #777; } code { font-size: 0.9em; }
svg { display: block; margin: 0.5em 0 1.5em; max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>Monitoring report: {{.MonitorID}}</h1>
<table>
<tr><th>Monitor</th><td>{{.MonitorID}} (job {{.JobID}} on {{.Node}})</td></tr>
<tr><th>Prometheus</th><td>{{.PrometheusVersion}}</td></tr>
<tr><th>Window</th><td>{{time .Start}} to {{time .End}}</td></tr>
<tr><th>Step</th><td>{{.Step}} (scrape interval {{.ScrapeInterval}},
 rate window {{.RateWindow}})</td></tr>
<tr><th>Generated</th><td>{{time .GeneratedAt}}</td></tr>
</table>

<h2>Targets now</h2>
<table>
<tr><th>Job</th><th>Service</th><th>URL</th><th>Health</th><th>Last error</th></tr>
{{range .Targets}}<tr><td>{{.Job}}</td><td>{{.Service}}</td><td><code>{{.ScrapeURL}}</code></td>
<td{{if ne .Health "up"}} class="down"{{end}}>{{.Health}}</td><td>{{.LastError}}</td></tr>
{{end}}</table>
{{with .Warnings}}<p>Prometheus warnings:</p><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{with .Infos}}<p>Prometheus notes:</p><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}

{{if not .Services}}<p class="muted">No target was scraped in this window.</p>{{end}}
{{range .Services}}
<h2>{{.Service}}</h2>
<table>
<tr><th>Job / instance</th><td>{{.Job}} / {{.Instance}}</td></tr>
{{if .JobID}}<tr><th>SLURM job</th><td>{{.JobID}}</td></tr>{{end}}
{{if .Node}}<tr><th>Node</th><td>{{.Node}}</td></tr>{{end}}
<tr><th>Cgroup</th><td>{{if .Cgroup}}<code>{{.Cgroup}}</code>
{{- else}}<span class="muted">unknown: whole node</span>{{end}}</td></tr>
<tr><th>Up / down</th><td>{{secs .Availability.UpSeconds}} / {{secs .Availability.DownSeconds}}
 ({{pct .Availability.Ratio}} up, {{.Availability.Samples}} samples)</td></tr>
<tr><th>Scrape health</th><td>{{.Scrape.Health}}
{{- with .Scrape.LastError}} <span class="down">({{.}})</span>{{end}};
duration mean {{value .Scrape.Duration.Mean "s"}}, max {{value .Scrape.Duration.Max "s"}};
samples per scrape mean {{value .Scrape.Samples.Mean ""}}</td></tr>
</table>
<table>
<tr><th>Metric</th><th>Scope</th><th>Min</th><th>Mean</th><th>p95</th><th>Max</th>
<th>Samples</th></tr>
{{range .Metrics}}<tr><td>{{.Title}}</td><td>{{.Scope}}</td>
{{if .Summary.NoData}}<td colspan="5" class="muted">no data{{with .Error}}: {{.}}{{end}}</td>
{{else}}<td class="n">{{value .Summary.Min .Unit}}</td>
<td class="n">{{value .Summary.Mean .Unit}}</td>
<td class="n">{{value .Summary.P95 .Unit}}</td>
<td class="n">{{value .Summary.Max .Unit}}</td>
<td class="n">{{.Summary.Samples}}</td>{{end}}</tr>
{{end}}</table>
{{range .Metrics}}{{if .Chart}}
<h3>{{.Title}} <span class="muted">({{.Scope}})</span></h3>
<p class="muted"><code>{{.Query}}</code></p>
{{.Chart}}
{{end}}{{end}}
{{end}}
</body>
</html>
`
