// Package slurm submits, watches and cancels batch jobs: on a SLURM
// cluster through an sshx.Executor, or on this machine with the same
// semantics.
//
// # Schedulers
//
// Scheduler is the interface the rest of hpcorch uses. Two implementations
// exist:
//
//   - Slurm runs sbatch, squeue, sacct, scancel and scontrol through an
//     sshx.Executor (an SSH connection to a login node, or this machine).
//     It keeps no state: everything is asked of SLURM, so any process can
//     find its jobs again by name, comment or id.
//   - Local runs the same batch scripts with bash as process groups on
//     this machine, with SLURM's states, time limits, output patterns and
//     environment, and records every job under a state folder that other
//     processes can share.
//
// A sketch:
//
//	client, err := sshx.Dial(ctx, sshx.Config{Host: "login.example", User: "me"})
//	if err != nil { ... }
//	s := slurm.New(client, slurm.Options{})
//	id, err := s.Submit(ctx, slurm.JobSpec{
//		Name:      slurm.UniqueName("web"),
//		Partition: "debug",
//		Time:      2 * time.Hour,
//		Script:    "exec python3 -m http.server 8080",
//	})
//	p := slurm.NewPoller(s, 2*time.Second)
//	defer p.Close()
//	updates, err := p.Watch(ctx, id)
//	for j := range updates {
//		fmt.Println(j.State, j.Nodes)
//	}
//
// # Scripts
//
// Render turns a JobSpec into a batch script with one pure function. Every
// #SBATCH value is checked (no empty, "None", placeholder or "$VAR" values,
// which sbatch would take literally), environment values are quoted with
// sshx.Quote, and the script goes to sbatch on standard input, never
// through a shell command line. DryRun shows the script without running
// anything.
//
// # Status
//
// Status asks about any number of jobs with one squeue (explicit "|"
// delimiters, long state names, full fields) and, for jobs squeue has
// forgotten, one sacct. A job neither knows has Found == false; a command
// that failed is an error instead, so "the job is gone" and "we could not
// ask" never mix. Poller shares one such round among any number of
// watchers.
//
// The parsers (ParseState, ParseWalltime, ParseExitCode, ParseJobID,
// ExpandHostlist, ParseSubmission, ParseSqueue, ParseSacct) are exported
// for tools that read SLURM output themselves. They never panic and keep
// what they can of a damaged row.
//
// # Security
//
// Values reach a shell only quoted by sshx.Quote, or after validation as
// job ids; job names are restricted to a safe character set. Nothing is
// logged but job names, ids and states.
//
// # Stability
//
// The Scheduler interface, JobSpec and Job are shared with the servers
// package and change only with it. Fields may be added to Job, JobSpec,
// Options and LocalOptions.
//
// Tested against SLURM 22.05.
package slurm
