// Package orchestrator is hpcorch's front door: one value that holds the
// connection to a cluster and the Servers and Monitors that share it,
// starts benchmark sessions (a service, a Prometheus monitor on it and a
// tunnel to Prometheus), and reports what runs.
//
// # Opening
//
// Open reads a cluster config (config.yaml, see package recipe) and builds
// what it names: an SSH connection to the login node and SLURM through it,
// or, with executor: local, this machine and a local scheduler that runs
// batch scripts as process groups. A missing config file is an error
// (ErrNoConfig), never a silent fallback to local mode. New takes a
// ready-made sshx.Executor and slurm.Scheduler instead, for programs that
// bring their own.
//
// Logging in, keys are offered as OpenSSH offers them: hpc.key_filename,
// then the ssh-agent at $SSH_AUTH_SOCK (only that key, when key_filename is
// set). OpenConfig asks Config.Passphrase for an encrypted key and
// Config.KeyboardInteractive for a login node's one-time code; without them
// such keys and prompts are skipped and a failed login says what was tried.
// Host keys are always checked.
//
// # Usage
//
//	o, err := orchestrator.Open(ctx, "config.yaml")
//	if err != nil {
//		return err
//	}
//	defer o.Close() // closes the connection and tunnels; jobs keep running
//
//	r, err := o.LoadRecipe("redis_with_cadvisor") // a file or a catalog name
//	if err != nil {
//		return err
//	}
//	s, err := o.StartBenchmarkSession(ctx, r) // service, monitor, tunnel: all ready
//	if err != nil {
//		return err
//	}
//	fmt.Println("Prometheus at", s.PrometheusURL)
//	res, err := o.Monitors.QueryMetrics(ctx, s.Monitor.ID, "up")
//	...
//	err = o.StopBenchmarkSession(ctx, s.ID)
//
// Servers and Monitors are the packages' own types, so everything they
// offer (StartService, WaitReady, QueryRange, ConstructReport, ...) is at
// hand; the Orchestrator adds what spans both: sessions, WaitReady for
// either kind with progress, SystemStatus, tunnels by service ID.
//
// # Lifetime
//
// Jobs live on the cluster, not in the Orchestrator: Close closes the SSH
// connection Open made and the tunnels the Orchestrator opened, and leaves
// every job running. Stop jobs explicitly (StopBenchmarkSession,
// Servers.StopService, Monitors.StopMonitor). Everything needed to find them
// again is in SLURM (job name and comment) and their run folders, so a
// later process, or another machine, sees and stops them.
//
// # Logging
//
// The package is silent unless Config.Logger is set; the logger is passed
// to the packages below. Passwords and Prometheus credentials are never
// logged.
//
// # Stability
//
// The API may change until hpcorch 1.0.
package orchestrator
