package monitors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// writeReportJSON writes rep to path as compact JSON, the same JSON as
// json.Marshal's. A report holds hundreds of thousands of points: they are
// encoded in one pass, not through encoding/json's reflection and a
// Marshaler call per value, and not indented (which would double the
// file and the time to write it).
func writeReportJSON(path string, rep *Report) error {
	data, err := encodeReport(rep)
	if err != nil {
		return fmt.Errorf("monitors: encode %s: %w", path, err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// encodeReport returns json.Marshal(rep), faster: it marshals rep without
// its points, then writes each series' points in place of its null.
func encodeReport(rep *Report) ([]byte, error) {
	cp := *rep
	cp.Services = make([]ServiceReport, len(rep.Services))
	var points [][]Point
	n := 0
	for i, s := range rep.Services {
		s.Metrics = slices.Clone(s.Metrics)
		for k := range s.Metrics {
			points = append(points, s.Metrics[k].Points)
			n += len(s.Metrics[k].Points)
			s.Metrics[k].Points = nil
		}
		cp.Services[i] = s
	}
	data, err := json.Marshal(&cp)
	if err != nil {
		return nil, err
	}

	// Every other string is escaped, so the key's quotes only appear as
	// the key of a series' points, in the order the series were encoded.
	key := []byte(`"points":null`)
	out := make([]byte, 0, len(data)+n*48)
	for _, pts := range points {
		i := bytes.Index(data, key)
		if i < 0 {
			return nil, errors.New("points of a series not found")
		}
		out = append(out, data[:i+len(key)-len("null")]...)
		out = appendPoints(out, pts)
		data = data[i+len(key):]
	}
	return append(out, data...), nil
}

// appendPoints appends pts to b as a JSON array of {"t": RFC 3339 time,
// "v": Float}.
func appendPoints(b []byte, pts []Point) []byte {
	b = append(b, '[')
	for i, p := range pts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"t":"`...)
		b = p.T.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","v":`...)
		b = appendFloat(b, float64(p.V))
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendFloat appends v the way Float.MarshalJSON writes it.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
