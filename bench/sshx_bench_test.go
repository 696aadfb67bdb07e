//go:build integration

package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/sshx"
)

// sshxBenchCommands is how many `true` commands each arm runs, one after
// the other.
const sshxBenchCommands = 200

// BenchmarkSSHXRun runs sshxBenchCommands `true` commands against the
// cluster's sshd three ways: on one sshx.Client, with a new
// `ssh -o BatchMode=yes` per command, and through an OpenSSH ControlMaster
// (`ssh -S socket`). It reports the mean time per command of each and the
// ratios: vs-ssh is how many times faster the Client is than a new ssh per
// command (target ≥ 10), vs-controlmaster is the Client's time over the
// ControlMaster's (target ≤ 1.2).
func BenchmarkSSHXRun(b *testing.B) {
	cl := clustertest.Env(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	client, err := sshx.Dial(ctx, sshx.Config{
		Host:            cl.SSHHost,
		Port:            cl.SSHPort,
		User:            cl.User,
		IdentityFiles:   []string{cl.KeyFile},
		KnownHostsFiles: []string{cl.KnownHosts},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	sshArgs := []string{"-F", cl.SSHConfig, "-o", "BatchMode=yes"}
	socket := filepath.Join(b.TempDir(), "cm.sock")
	startControlMaster(b, sshArgs, socket)

	var dClient, dSSH, dMaster time.Duration
	b.ResetTimer()
	for range b.N {
		dClient += timeCommands(b, func() error {
			_, _, err := client.Run(ctx, "true", nil)
			return err
		})
		dSSH += timeCommands(b, func() error {
			return exec.CommandContext(ctx, "ssh", slices.Concat(sshArgs, []string{"minicluster", "true"})...).Run()
		})
		dMaster += timeCommands(b, func() error {
			args := slices.Concat(sshArgs, []string{"-S", socket, "minicluster", "true"})
			return exec.CommandContext(ctx, "ssh", args...).Run()
		})
	}
	b.StopTimer()

	per := func(d time.Duration) float64 {
		return float64(d.Microseconds()) / 1000 / float64(b.N*sshxBenchCommands)
	}
	b.ReportMetric(per(dClient), "client-ms/cmd")
	b.ReportMetric(per(dSSH), "ssh-ms/cmd")
	b.ReportMetric(per(dMaster), "controlmaster-ms/cmd")
	b.ReportMetric(float64(dSSH)/float64(dClient), "vs-ssh")
	b.ReportMetric(float64(dClient)/float64(dMaster), "vs-controlmaster")
}

// timeCommands runs run sshxBenchCommands times and returns the time taken.
func timeCommands(b *testing.B, run func() error) time.Duration {
	b.Helper()
	start := time.Now()
	for range sshxBenchCommands {
		if err := run(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// startControlMaster starts an OpenSSH master connection on socket and
// stops it when the benchmark ends.
func startControlMaster(b *testing.B, sshArgs []string, socket string) {
	b.Helper()
	args := slices.Concat(sshArgs, []string{"-M", "-S", socket,
		"-o", "ControlPersist=yes", "-f", "-N", "minicluster"})
	// The master forks into the background holding its stdio open, so
	// leave them unset (/dev/null) rather than waiting on pipes.
	if err := exec.Command("ssh", args...).Run(); err != nil {
		b.Fatalf("start ControlMaster: %v", err)
	}
	b.Cleanup(func() {
		args := slices.Concat(sshArgs, []string{"-S", socket, "-O", "exit", "minicluster"})
		_ = exec.Command("ssh", args...).Run()
	})
}
