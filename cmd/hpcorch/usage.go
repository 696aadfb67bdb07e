package main

import (
	"fmt"
	"io"
	"strings"
)

// writeUsage prints the help text: what hpcorch does, then every flag.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, `hpcorch: run and monitor services on a SLURM cluster from this machine.

Usage:
  hpcorch [--config FILE] ACTION [--json]

Quick start (see the README):
  hpcorch --recipe recipes/services/redis_with_cadvisor.yaml --wait
  hpcorch --status
  hpcorch --recipe my_prometheus.yaml --wait      # monitoring_targets: the IDs above
  hpcorch --create-tunnel prometheus_6355d49f 9090 9090
  hpcorch --query-metrics prometheus_6355d49f 'container_memory_usage_bytes'
  hpcorch --stop-all-services

Actions:
`)
	writeFlags(w, true)
	fmt.Fprint(w, "\nOptions:\n")
	writeFlags(w, false)
	fmt.Fprint(w, `
The config file says how to reach the cluster:
  hpc:
    hostname: login.example.org
    username: user1
    port: 22
    key_filename: ~/.ssh/id_ed25519
    known_hosts: ~/.ssh/known_hosts
    host_key_policy: strict        # or accept-new: trust a new host once
  cadvisor:
    local_path: ~/bin/cadvisor     # uploaded; or url: and sha256: to download
or, to run jobs on this machine without a cluster:
  executor: local

Exit status: 0 on success, 1 when the action failed, 2 for a bad command line.
`)
}

func writeFlags(w io.Writer, actions bool) {
	for _, s := range specs {
		if s.action != actions {
			continue
		}
		head := "  --" + s.name
		if s.values != "" {
			head += " " + s.values
		}
		fmt.Fprintf(w, "%s\n%s\n", head, wrap(s.help, 6, 78))
	}
}

// wrap breaks text into lines of at most width columns, each indented.
func wrap(text string, indent, width int) string {
	pad := strings.Repeat(" ", indent)
	var lines []string
	line := pad
	for _, word := range strings.Fields(text) {
		if len(line) > indent && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = pad
		}
		if len(line) > indent {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}
