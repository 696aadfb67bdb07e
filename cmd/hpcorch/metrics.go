package main

import (
	"context"
	"encoding/json"
	"fmt"
)

// queryOut is the JSON form of --query-metrics: Prometheus' own result
// form, with its notes.
type queryOut struct {
	Query      string          `json:"query"`
	ResultType string          `json:"result_type"`
	NoData     bool            `json:"no_data"`
	Result     json.RawMessage `json:"result"`
	Warnings   []string        `json:"warnings"`
	Infos      []string        `json:"infos"`
}

func (c *cli) queryMetrics(ctx context.Context, id, promql string) error {
	res, err := c.o.Monitors.QueryMetrics(ctx, id, promql)
	if err != nil {
		return err
	}
	if c.inv.json {
		raw, err := json.Marshal(res.Value)
		if err != nil {
			return fmt.Errorf("encoding the result: %w", err)
		}
		return c.printJSON(queryOut{Query: res.Query, ResultType: res.Type().String(),
			NoData: res.NoData(), Result: raw, Warnings: nonNil(res.Warnings),
			Infos: nonNil(res.Infos)})
	}

	for _, w := range res.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	for _, i := range res.Infos {
		fmt.Fprintf(c.stderr, "info: %s\n", i)
	}
	if res.NoData() {
		fmt.Fprintln(c.stdout, "(no data)")
		return nil
	}
	fmt.Fprintln(c.stdout, res.String())
	return nil
}

func (c *cli) listMetrics(ctx context.Context, id string) error {
	groups, err := c.o.Monitors.ListAvailableMetrics(ctx, id)
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(groups)
	}

	total := 0
	for _, g := range groups {
		total += len(g.Names)
	}
	fmt.Fprintf(c.stdout, "Available metrics (%d):\n", total)
	for _, g := range groups {
		fmt.Fprintf(c.stdout, "\n%s (%d):\n", g.Prefix, len(g.Names))
		for _, n := range g.Names {
			fmt.Fprintf(c.stdout, "   %s\n", n)
		}
	}
	return nil
}

func (c *cli) report(ctx context.Context, id, file string) error {
	rep, err := c.o.Monitors.ConstructReport(ctx, id, file)
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string]any{"json": rep.JSONPath, "html": rep.HTMLPath,
			"services": len(rep.Services)})
	}
	fmt.Fprintf(c.stdout, "Report written: %s (and %s), %d service(s)\n",
		rep.JSONPath, rep.HTMLPath, len(rep.Services))
	return nil
}

func (c *cli) collect(ctx context.Context, id, promql, file string) error {
	path, err := c.o.Monitors.CollectMetricsToFile(ctx, id, promql, file)
	if err != nil {
		return err
	}
	if c.inv.json {
		return c.printJSON(map[string]string{"path": path})
	}
	fmt.Fprintf(c.stdout, "Metrics written: %s\n", path)
	return nil
}

// nonNil returns s, or an empty slice for nil, so JSON shows [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
