// Package monitors runs Prometheus as a SLURM job to watch hpcorch services,
// and asks it questions from Go: PromQL queries, metric files and reports.
//
// # Monitors as jobs
//
// A monitor is a Prometheus started by StartMonitor from a monitor recipe
// (one with monitoring_targets). Its ID, "prometheus_<8 hex>", is the job
// name, and package servers tags the job as a monitor, so a new process finds
// it again from SLURM (ListRunningMonitors, CheckMonitorStatus) and it is
// never listed or stopped as a service.
//
// Each monitor has its own run folder (see servers: $HOME/.hpcorch/run/<id>
// by default), never shared or reused: the generated prometheus.yml, the
// targets files, web.yml, the password, the TSDB (data/), and monitor.json,
// which records the targets. prometheus.yml has a job that scrapes Prometheus
// itself and one job per target job name of the recipe; a target that names
// a service_id is scraped on that service's node at the cAdvisor port its job
// reported. Every target carries the labels hpcorch_service, job_id, node and
// hpcorch_cgroup (the job's cgroup, cAdvisor's id label), so that queries can
// pick out one service's own series:
//
//	container_memory_usage_bytes{hpcorch_service="redis_1a2b3c4d",
//		id="/slurm_node2/uid_2001/job_42"}
//
// Targets live in file-based service discovery files, so AddTarget and
// RemoveTarget change what is scraped without restarting Prometheus.
//
// # Usage
//
//	mons := monitors.New(srv, monitors.Options{MetricsDir: "metrics"})
//	r, _ := recipe.Load("recipes/services/prometheus_with_cadvisor.yaml")
//	mon, err := mons.StartMonitor(ctx, r)
//	...
//	mon, err = mons.WaitReady(ctx, mon.ID) // /-/ready, and every target scraped
//	res, err := mons.QueryMetrics(ctx, mon.ID, `rate(container_cpu_usage_seconds_total[1m])`)
//	if res.NoData() { ... }                // no series: not the same as 0
//	_, err = mons.CollectMetricsToFile(ctx, mon.ID, "up", "up.json")
//	rep, err := mons.ConstructReport(ctx, mon.ID, "report.json") // and report.html
//	err = mons.StopMonitor(ctx, mon.ID)
//
// # Queries
//
// Queries use Prometheus' client_golang API client over an HTTP client whose
// connections go through the Executor's dialer (an SSH channel to the node):
// no curl on the login node and no local port. Results are typed
// (model.Vector, model.Matrix, *model.Scalar, *model.String), NaN and ±Inf
// decode, and Prometheus' warnings and infos come with the result, never as
// errors. Query errors keep Prometheus' errorType: errors.Is matches
// ErrBadQuery (with the position of a parse error in *QueryError),
// ErrQueryTimeout and ErrQueryTooLarge. Range queries stay within
// Prometheus' 11,000 points per series by raising the step (FitStep).
//
// # Security
//
// Compute nodes are reachable by every user of a cluster, so each monitor's
// Prometheus asks for basic auth: user "hpcorch" and a random password,
// stored mode 0600 in its run folder (web.yml holds only its bcrypt hash).
// The SDK reads it back to query; Credentials gives it to tunnel and web UI
// users. It is never logged.
//
// # Stability
//
// The API may change before hpcorch 1.0. The monitor.json format carries a
// version number.
package monitors
