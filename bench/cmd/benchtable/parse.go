package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// results holds every metric of every benchmark in a `go test -bench`
// output: results["BenchmarkTunnel/throughput-1-stream"]["ratio"].
type results map[string]map[string]float64

// benchLine matches a result line: the name with its -GOMAXPROCS suffix,
// the iterations, then value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.+)$`)

// parse reads `go test -bench` output. Lines that are not results are
// skipped; a benchmark that appears twice keeps its last result.
func parse(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		if len(fields)%2 != 0 {
			return nil, fmt.Errorf("benchtable: %s: odd number of fields in %q", m[1], m[3])
		}
		metrics := map[string]float64{}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchtable: %s: %q: %w", m[1], fields[i], err)
			}
			metrics[fields[i+1]] = v
		}
		res[m[1]] = metrics
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("benchtable: %w", err)
	}
	return res, nil
}

// get returns a metric and whether the run reported it.
func (r results) get(bench, unit string) (float64, bool) {
	m, ok := r[bench]
	if !ok {
		return 0, false
	}
	v, ok := m[unit]
	return v, ok
}
