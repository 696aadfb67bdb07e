// Command benchtable turns the output of hpcorch's cluster benchmarks (go
// test -bench ./bench/) into one table of ratios: it prints the table,
// and writes it as JSON and as a Markdown page.
//
//	benchtable -json results/latest.json -md RESULTS.md -notes NOTES.md \
//		-uname "$(uname -a)" -nproc 2 bench.out...
//
// Each row is one target of the benchmarks issue: hpcorch's number, the peer
// it was measured against in the same run, their ratio, the target and
// whether it was met (and by how much it was missed). A benchmark that did
// not run gives a "not run" row, and the exit status is 1.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is the JSON file's content.
type Report struct {
	Date    string  `json:"date"`
	Machine Machine `json:"machine"`
	Rows    []Row   `json:"rows"`
	// Benchmarks holds every metric of the run, by benchmark and unit.
	Benchmarks results `json:"benchmarks"`
}

// Machine describes where the run happened.
type Machine struct {
	Uname string `json:"uname"`
	NProc string `json:"nproc"`
	Go    string `json:"go"`
	Load  string `json:"load"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	jsonOut := fs.String("json", "", "write the table as JSON to this file")
	mdOut := fs.String("md", "", "write the table as a Markdown page to this file")
	notes := fs.String("notes", "", "Markdown file appended to the page")
	var m Machine
	fs.StringVar(&m.Uname, "uname", "", "uname -a of the machine")
	fs.StringVar(&m.NProc, "nproc", "", "nproc of the machine")
	fs.StringVar(&m.Go, "go", "", "go version")
	fs.StringVar(&m.Load, "load", "", "load averages during the run")
	date := fs.String("date", time.Now().UTC().Format(time.RFC3339), "when the run started")
	if err := fs.Parse(args); err != nil {
		return err
	}

	res := results{}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("benchtable: %w", err)
		}
		r, err := parse(f)
		f.Close()
		if err != nil {
			return err
		}
		for k, v := range r {
			res[k] = v
		}
	}

	rep := Report{Date: *date, Machine: m, Rows: build(res),
		Benchmarks: res}
	writeText(stdout, rep.Rows)
	if *jsonOut != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("benchtable: %w", err)
		}
		if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("benchtable: %w", err)
		}
	}
	if *mdOut != "" {
		var extra []byte
		if *notes != "" {
			var err error
			if extra, err = os.ReadFile(*notes); err != nil {
				return fmt.Errorf("benchtable: %w", err)
			}
		}
		if err := os.WriteFile(*mdOut, []byte(markdown(rep, string(extra))), 0o644); err != nil {
			return fmt.Errorf("benchtable: %w", err)
		}
	}

	if slices.ContainsFunc(rep.Rows, func(r Row) bool { return r.Met == "not run" }) {
		return fmt.Errorf("benchtable: some benchmarks did not run")
	}
	return nil
}

// columns are the table's headers.
var columns = []string{"metric", "hpcorch", "peer", "ratio", "target", "met?"}

func cells(r Row) []string {
	return []string{r.Metric, r.HPCorch, r.Peer, r.Ratio, r.Target, r.Met}
}

// writeText prints rows as an aligned plain-text table.
func writeText(w io.Writer, rows []Row) {
	width := make([]int, len(columns))
	all := [][]string{columns}
	for _, r := range rows {
		all = append(all, cells(r))
	}
	for _, c := range all {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	for k, c := range all {
		var b strings.Builder
		for i, s := range c {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(s + strings.Repeat(" ", width[i]-len([]rune(s))))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if k == 0 {
			var sep []string
			for _, n := range width {
				sep = append(sep, strings.Repeat("-", n))
			}
			fmt.Fprintln(w, strings.Join(sep, "-|-"))
		}
	}
}

// markdown renders the page: where and when, the table, the targets
// missed and by how much, then notes.
func markdown(rep Report, notes string) string {
	var b strings.Builder
	b.WriteString("# hpcorch benchmarks\n\n")
	b.WriteString("Written by `make bench` (bench/run.sh); the JSON is in " +
		"bench/results/latest.json.\n\n")
	fmt.Fprintf(&b, "- date: %s\n", rep.Date)
	fmt.Fprintf(&b, "- machine: `%s`\n", rep.Machine.Uname)
	fmt.Fprintf(&b, "- nproc: %s\n", rep.Machine.NProc)
	if rep.Machine.Go != "" {
		fmt.Fprintf(&b, "- go: %s\n", rep.Machine.Go)
	}
	if rep.Machine.Load != "" {
		fmt.Fprintf(&b, "- load averages: %s\n", rep.Machine.Load)
	}
	b.WriteString("\n| " + strings.Join(columns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(columns)) + "\n")
	for _, r := range rep.Rows {
		c := cells(r)
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		b.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}

	b.WriteString("\n## Targets missed\n\n")
	n := 0
	for _, r := range rep.Rows {
		if r.Met == "no" || r.Met == "not run" {
			why := r.Missed
			if why == "" {
				why = "the benchmark did not run"
			}
			fmt.Fprintf(&b, "- %s: %s\n", r.Metric, why)
			n++
		}
	}
	if n == 0 {
		b.WriteString("None.\n")
	}
	if notes != "" {
		b.WriteString("\n" + strings.TrimRight(notes, "\n") + "\n")
	}
	return b.String()
}
