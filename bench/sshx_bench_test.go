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

// sshxBenchCommands is how many `true` commands the Client and the
// ControlMaster arms run, one after the other. A new ssh per command costs
// about 0.3 s on the test cluster, so that arm runs sshxBenchNewSSH commands
// and the comparison is per command.
const (
	sshxBenchCommands = 200
	sshxBenchNewSSH   = 20
)

// BenchmarkSSHXRun runs short `true` commands against the cluster's sshd
// three ways: on one sshx.Client, with a new `ssh -o BatchMode=yes` per
// command, and through an OpenSSH ControlMaster (`ssh -S socket`). It
// reports the mean time per command of each and two ratios: vs-ssh is how
// many times faster the Client is than a new ssh per command (target ≥ 10);
// vs-controlmaster is the Client's time over the ControlMaster's (target
// ≤ 1.2).
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
		dClient += timeCommands(b, sshxBenchCommands, func() error {
			_, _, err := client.Run(ctx, "true", nil)
			return err
		})
		dSSH += timeCommands(b, sshxBenchNewSSH, func() error {
			args := slices.Concat(sshArgs, []string{"minicluster", "true"})
			return exec.CommandContext(ctx, "ssh", args...).Run()
		})
		dMaster += timeCommands(b, sshxBenchCommands, func() error {
			args := slices.Concat(sshArgs, []string{"-S", socket, "minicluster", "true"})
			return exec.CommandContext(ctx, "ssh", args...).Run()
		})
	}
	b.StopTimer()

	per := func(d time.Duration, n int) float64 {
		return float64(d.Microseconds()) / 1000 / float64(b.N*n)
	}
	mClient, mSSH := per(dClient, sshxBenchCommands), per(dSSH, sshxBenchNewSSH)
	mMaster := per(dMaster, sshxBenchCommands)
	b.ReportMetric(mClient, "client-ms/cmd")
	b.ReportMetric(mSSH, "ssh-ms/cmd")
	b.ReportMetric(mMaster, "controlmaster-ms/cmd")
	b.ReportMetric(mSSH/mClient, "vs-ssh")
	b.ReportMetric(mClient/mMaster, "vs-controlmaster")
}

// timeCommands calls run n times and returns the time taken.
func timeCommands(b *testing.B, n int, run func() error) time.Duration {
	b.Helper()
	start := time.Now()
	for range n {
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
