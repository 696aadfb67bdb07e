package monitors

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Float is a float64 that survives JSON: a finite value is written as a
// number, NaN and ±Inf as the strings "NaN", "+Inf" and "-Inf", the way
// Prometheus writes them (encoding/json refuses them as numbers). It reads
// back both forms.
type Float float64

// MarshalJSON writes f as a number, or as a string when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number, or a string holding a number, "NaN",
// "+Inf", "Inf" or "-Inf".
func (f *Float) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("monitors: not a number: %q", s)
		}
		*f = Float(v)
		return nil
	}

	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// Summary condenses a series of values.
type Summary struct {
	// Min, Mean, P95 and Max are over the finite values; all NaN when
	// there are none.
	Min  Float `json:"min"`
	Mean Float `json:"mean"`
	P95  Float `json:"p95"`
	Max  Float `json:"max"`

	// Samples counts the values summarised, NaN counts the NaN values
	// left out (such as rate() of an idle counter), and Inf the infinite
	// ones, also left out.
	Samples int `json:"samples"`
	NaN     int `json:"nan,omitempty"`
	Inf     int `json:"inf,omitempty"`

	// NoData is true when the query matched no series at all: distinct
	// from values of 0 or NaN.
	NoData bool `json:"no_data,omitempty"`
}

// summarize returns the Summary of vs. P95 is the nearest-rank 95th
// percentile.
func summarize(vs []float64) Summary {
	var s Summary
	finite := make([]float64, 0, len(vs))
	for _, v := range vs {
		switch {
		case math.IsNaN(v):
			s.NaN++
		case math.IsInf(v, 0):
			s.Inf++
		default:
			finite = append(finite, v)
		}
	}

	s.Samples = len(finite)
	if len(finite) == 0 {
		nan := Float(math.NaN())
		s.Min, s.Mean, s.P95, s.Max = nan, nan, nan, nan
		return s
	}

	sort.Float64s(finite)
	sum := 0.0
	for _, v := range finite {
		sum += v
	}
	rank := int(math.Ceil(0.95*float64(len(finite)))) - 1
	s.Min = Float(finite[0])
	s.Max = Float(finite[len(finite)-1])
	s.Mean = Float(sum / float64(len(finite)))
	s.P95 = Float(finite[max(rank, 0)])
	return s
}

func nan() float64 { return math.NaN() }
