package orchestrator_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/hpcorch/hpcorch/orchestrator"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// Open a cluster from config.yaml, run a benchmark session (a service, a
// Prometheus monitor on it and a tunnel to Prometheus), query it, and stop
// it.
func Example() {
	ctx := context.Background()
	o, err := orchestrator.Open(ctx, "config.yaml")
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close() // jobs keep running; the session is stopped below

	r, err := o.LoadRecipe("redis_with_cadvisor") // a file, or a catalog name
	if err != nil {
		log.Fatal(err)
	}
	s, err := o.StartBenchmarkSession(ctx, r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Prometheus at", s.PrometheusURL)

	res, err := o.Monitors.QueryMetrics(ctx, s.Monitor.ID, "up")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res)

	if err := o.StopBenchmarkSession(ctx, s.ID); err != nil {
		log.Fatal(err)
	}
}

// New takes a ready-made Executor and Scheduler: here, this machine and
// the local scheduler, for trying recipes without a cluster.
func ExampleNew() {
	ctx := context.Background()
	sched := slurm.NewLocal(slurm.LocalOptions{})
	defer sched.Close() // cancels the local jobs

	o, err := orchestrator.New(ctx, orchestrator.Config{
		Executor:  &sshx.Local{},
		Scheduler: sched,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()

	st, err := o.SystemStatus(ctx)
	if err != nil {
		log.Fatal(err)
	}
	orchestrator.WriteTable(os.Stdout, "Services", st.Services)
}

// WaitReady reports the job's state while it waits, as hpcorch --recipe
// FILE --wait shows it.
func ExampleOrchestrator_WaitReady() {
	ctx := context.Background()
	o, err := orchestrator.Open(ctx, "config.yaml")
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()

	r, err := o.LoadRecipe("mini_http_bare")
	if err != nil {
		log.Fatal(err)
	}
	svc, err := o.Servers.StartService(ctx, r)
	if err != nil {
		log.Fatal(err)
	}
	ready, err := o.WaitReady(ctx, svc.ID, func(p orchestrator.Progress) {
		fmt.Printf("%s: %s %s, waiting %s\n", p.ID, p.State, p.Reason,
			orchestrator.FormatElapsed(p.Waited))
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready on", ready.Node)
}

// OpenTunnel forwards a local port to a service; SSHCommand prints the
// OpenSSH equivalent for people who prefer their own ssh.
func ExampleOrchestrator_OpenTunnel() {
	ctx := context.Background()
	o, err := orchestrator.Open(ctx, "config.yaml")
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close() // closes the tunnel too

	t, err := o.OpenTunnel(ctx, "prometheus_6355d49f", 9090, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Prometheus at", t.URL())
	fmt.Println("or run:", o.SSHCommand(t))
}

// WriteTable prints services the way hpcorch --status does.
func ExampleWriteTable() {
	orchestrator.WriteTable(os.Stdout, "Services", []servers.Service{
		{JobID: "3653331", ID: "ollama_abc123", State: slurm.StateRunning,
			Elapsed: 5*time.Minute + 23*time.Second, Node: "mel2073"},
		{JobID: "3653332", ID: "prometheus_6355d49f", State: slurm.StateRunning,
			Elapsed: 35 * time.Second, Node: "mel2074"},
		{JobID: "3653333", ID: "redis_def456", State: slurm.StatePending,
			Reason: "Priority"},
	})
	// Output:
	// Services:
	//    3653331 | ollama_abc123       |    RUNNING |     5:23 | mel2073
	//    3653332 | prometheus_6355d49f |    RUNNING |     0:35 | mel2074
	//    3653333 | redis_def456        |    PENDING |     0:00 | (Priority)
}

// SSHCommand builds the reference tool's ssh -L line.
func ExampleSSHCommand() {
	login := sshx.Target{User: "user1", Host: "login.lxp.lu", Port: 8822,
		IdentityFiles: []string{"~/.ssh/id_ed25519_mlux"}}
	fmt.Println(orchestrator.SSHCommand(login, 9090, "mel2074", 9090))
	// Output:
	// ssh -i ~/.ssh/id_ed25519_mlux -L 9090:mel2074:9090 -N user1@login.lxp.lu -p 8822
}

func ExampleFormatElapsed() {
	fmt.Println(orchestrator.FormatElapsed(83 * time.Second))
	fmt.Println(orchestrator.FormatElapsed(26*time.Hour + 5*time.Second))
	// Output:
	// 1:23
	// 1-02:00:05
}
