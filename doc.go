// Package hpcorch is the map of the hpcorch SDK: it runs services (an LLM
// server, Redis, a vector database) as SLURM batch jobs behind a cluster's
// SSH login node, with cAdvisor beside them, monitors them with Prometheus
// running as another job, reaches both through SSH tunnels, queries them
// with PromQL, and writes metric files and end-of-run reports. SLURM itself
// is the record of what runs: a new process, or another machine, finds and
// stops what an earlier one started.
//
// This package holds no code. The SDK is its subpackages, from the top:
//
//   - [github.com/hpcorch/hpcorch/orchestrator]: the one value a program
//     opens. Open reads config.yaml and connects; Servers and Monitors share
//     the connection; StartBenchmarkSession starts a service and a monitor on
//     it and opens a tunnel to Prometheus; SystemStatus shows what runs.
//   - [github.com/hpcorch/hpcorch/servers]: service recipes as batch jobs
//     (bare or in Apptainer), with cAdvisor, readiness checks, logs, stop.
//   - [github.com/hpcorch/hpcorch/monitors]: Prometheus as a job, scraping
//     services' cAdvisor; PromQL queries, metric files and reports.
//   - [github.com/hpcorch/hpcorch/tunnel]: in-process port forwarding over
//     the SSH connection, and the equivalent ssh command line.
//   - [github.com/hpcorch/hpcorch/recipe]: the YAML recipes and the cluster
//     config, read strictly; [github.com/hpcorch/hpcorch/recipes] is the
//     catalog of ready recipes embedded in the binary.
//   - [github.com/hpcorch/hpcorch/slurm]: the Scheduler, on SLURM through
//     any Executor, or as local process groups for machines without SLURM.
//   - [github.com/hpcorch/hpcorch/sshx]: the Executor, over one SSH
//     connection (host keys checked) or on this machine; every other
//     package reaches the cluster only through it.
//
// The command hpcorch (cmd/hpcorch) exposes the same operations with the
// flags of the reference tool it replaces (--recipe, --status,
// --create-tunnel, --query-metrics, ...), and examples/monitor is a complete
// program using the SDK.
//
// # Usage
//
//	o, err := orchestrator.Open(ctx, "config.yaml")
//	if err != nil { ... }
//	defer o.Close() // local resources only; jobs keep running
//
//	r, _ := o.LoadRecipe("redis_with_cadvisor") // a file, or a catalog name
//	s, err := o.StartBenchmarkSession(ctx, r)   // service + Prometheus + tunnel
//	if err != nil { ... }
//	res, err := o.Monitors.QueryMetrics(ctx, s.Monitor.ID, "up")
//	...
//	err = o.StopBenchmarkSession(ctx, s.ID)
//
// # Layers and seams
//
// Each layer sees only the one below through a small interface:
// sshx.Executor (run a command, write a file, dial an address on the
// cluster side) and slurm.Scheduler (submit, status, list, cancel). Tests
// and users plug in their own at these seams, and orchestrator.New takes
// ready-made ones.
//
// # Security
//
// Host keys are always checked against known_hosts. Every value that
// reaches a remote shell or a batch script is quoted by one function,
// sshx.Quote. Secrets (passwords, passphrases, Prometheus credentials) are
// never logged. The library is silent: it logs only to a *slog.Logger the
// caller injects.
//
// # Stability
//
// The API may change until hpcorch 1.0. The recipe and config formats follow
// the reference tool's and stay compatible.
package hpcorch
