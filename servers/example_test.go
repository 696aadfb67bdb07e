package servers_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/servers"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// The batch script of a recipe, without running anything: with an
// absolute RunRoot, DryRun needs no cluster.
func ExampleServers_DryRun() {
	r, err := recipe.Decode(strings.NewReader(`
service:
  name: web
  command: busybox
  args: ["httpd", "-f", "-p", "${HPCORCH_PORT}", "-h", "$HOME/www"]
  ports: [18080]
  resources:
    time: "00:30:00"
    mem: 100M
`), "web.yaml")
	if err != nil {
		log.Fatal(err)
	}

	exec := &sshx.Local{}
	srv := servers.New(exec, slurm.New(exec, slurm.Options{}), servers.Options{
		Session: "demo",
		RunRoot: "/home/me/.hpcorch/run",
	})
	script, err := srv.DryRun(context.Background(), r)
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(script, "\n") {
		switch {
		case strings.HasPrefix(line, "#SBATCH --comment"),
			strings.HasPrefix(line, "#SBATCH --mem"),
			strings.HasPrefix(line, "hpcorch_pick "),
			strings.HasPrefix(line, "hpcorch_run "):
			fmt.Println(line)
		}
	}
	// Output:
	// #SBATCH --comment=hpcorch:service:demo
	// #SBATCH --mem=100M
	// hpcorch_pick 18080 1 || exit 1
	// hpcorch_run busybox httpd -f -p "${HPCORCH_PORT}" -h "${HOME}"/www
}

// Start a service on a cluster, wait until it answers, and stop it.
func ExampleServers_StartService() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	cfg, err := sshx.ConfigFromSSHConfig("cluster", "")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sshx.Dial(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	srv := servers.New(client, slurm.New(client, slurm.Options{}), servers.Options{
		CAdvisor: servers.CAdvisorSource{LocalPath: "bin/cadvisor"}, // nodes without internet
	})
	r, err := recipe.Load("recipes/services/redis_with_cadvisor.yaml")
	if err != nil {
		log.Fatal(err)
	}
	svc, err := srv.StartService(ctx, r)
	if err != nil {
		log.Fatal(err)
	}
	rd, err := srv.WaitReady(ctx, svc.ID) // the recipe's health check
	if err != nil {
		log.Fatal(err) // a *servers.ReadyError carries the job's last lines
	}
	for _, p := range rd.Phases {
		fmt.Printf("%-8s %6s %s\n", p.Phase, p.Duration.Round(time.Millisecond), p.Detail)
	}
	fmt.Println(rd.Service.Node, rd.Service.Port, rd.Service.CgroupID)

	if err := srv.StopService(ctx, svc.ID); err != nil {
		log.Fatal(err)
	}
}

// Custom checks compose: each runs after the one before passed.
func ExampleServers_WaitReady() {
	var srv *servers.Servers // from servers.New
	ctx := context.Background()

	_, err := srv.WaitReady(ctx, "redis_1a2b3c4d",
		servers.TCPCheck(0).WithTimeout(time.Minute),
		servers.LogCheck("Ready to accept connections"),
		servers.CommandCheck("redis-cli", "-p", "6379", "ping"),
	)
	if err != nil {
		log.Fatal(err)
	}
}
