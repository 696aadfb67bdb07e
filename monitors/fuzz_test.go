package monitors

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzFloatJSON checks that every float64 survives a JSON round trip.
func FuzzFloatJSON(f *testing.F) {
	for _, v := range []float64{0, -1.5, 1e308, math.NaN(), math.Inf(1), math.Inf(-1), 5e-324} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		data, err := json.Marshal(Float(v))
		if err != nil {
			t.Fatalf("marshal %v: %v", v, err)
		}
		var back Float
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", data, err)
		}
		if math.IsNaN(v) != math.IsNaN(float64(back)) || !math.IsNaN(v) && float64(back) != v {
			t.Fatalf("%v came back as %v (%s)", v, back, data)
		}
	})
}

// FuzzParsePosition checks that any error text gives a position that is
// either unknown or positive.
func FuzzParsePosition(f *testing.F) {
	f.Add(`invalid parameter "query": 1:17: parse error: unclosed left parenthesis`)
	f.Add("parse error at char 9: unexpected end of input")
	f.Add("99999999999999999999:1: parse error: x")
	f.Fuzz(func(t *testing.T, msg string) {
		line, col := parsePosition(msg)
		if (line == 0) != (col == 0) || line < 0 || col < 0 {
			t.Fatalf("%q: position %d:%d", msg, line, col)
		}
	})
}
