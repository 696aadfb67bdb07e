// Package bench holds hpcorch's benchmarks against OpenSSH and raw SLURM,
// run on the throwaway cluster (build tag integration) and reported as
// ratios, each measured side by side in the same run: absolute times on a
// shared 2-core machine mean little, ratios hold.
//
// # Running
//
//	make bench                     # cluster-up, then bench/run.sh
//	go test -tags integration -run '^$' -bench Tunnel -benchtime 1x ./bench/
//
// bench/run.sh runs every benchmark once (each repeats its measurement
// inside one iteration), prints one table (metric | hpcorch | peer | ratio |
// target | met?) with the program in bench/cmd/benchtable, and writes it to
// bench/results/latest.json and bench/RESULTS.md.
//
// # What is measured
//
//   - BenchmarkSSHXRun: 200 × `true` on one sshx.Client, against a new ssh
//     per command and an OpenSSH ControlMaster.
//   - BenchmarkSlurmPollerRound: one slurm.Poller round over 200 held jobs
//     against one raw squeue on the same connection, with the squeue and
//     sacct calls counted at the Executor.
//   - BenchmarkSubmit: 100 held jobs submitted concurrently with
//     slurm.Slurm.Submit and with servers.Servers.StartService, against a
//     sequential `ssh … sbatch` loop.
//   - BenchmarkTunnel: tunnel against `ssh -N -L` (and an ssh -L that runs
//     a session): throughput with 1 and 50 streams, small HTTP latency.
//   - BenchmarkStartReady: how long after a service's port opened (as its job
//     recorded) servers.Servers.WaitReady returned.
//   - BenchmarkSDKMemory: the RSS of a child process holding 100 services
//     on the local scheduler, a poller watching them and 10 open tunnels.
//   - BenchmarkReport: monitors.Monitors.ConstructReport over 1 h × 100
//     services, from a Prometheus stub, through SSH and on loopback.
//   - BenchmarkScaling: poller round time and heap at 10, 100 and 1000 jobs
//     on the local scheduler.
//
// The package has no API: everything is in its _test.go files.
//
// # Honesty
//
// Nothing is cached that a real user would not get: every arm starts from
// the state a user's program would be in (a connection that has run
// commands, a new Monitors per report, a new WaitReady per service), and
// the jobs are real SLURM jobs, held where they need not run and cancelled
// afterwards.
package bench
