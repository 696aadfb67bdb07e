//go:build integration

package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
)

// ssh runs a command on the login node with OpenSSH, as the cluster's user.
// This tests the cluster itself, so it deliberately uses no hpcorch code.
func ssh(t *testing.T, c *clustertest.Cluster, cmd string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	out, err := exec.CommandContext(ctx, "ssh", "-F", c.SSHConfig, "minicluster", cmd).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr.Write(ee.Stderr)
		return string(out), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), err
}

// eventually polls f every 200 ms until it returns true or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestJobLifecycleOnNode2(t *testing.T) {
	c := clustertest.Env(t)

	out, err := ssh(t, c, `id -un; echo "$SLURM_CONF"`)
	require.NoError(t, err)
	require.Equal(t, []string{c.User, c.SlurmConf}, strings.Fields(out))

	const port = 18480
	script := fmt.Sprintf(`sbatch --parsable -w node2 -J cluster-test --mem=64M -t 5 `+
		`-o /dev/null --wrap 'exec python3 -m http.server %d --bind 0.0.0.0'`, port)
	out, err = ssh(t, c, script)
	require.NoError(t, err)
	id := strings.TrimSpace(out)
	require.Regexp(t, `^\d+$`, id)
	t.Cleanup(func() { _, _ = ssh(t, c, "scancel "+id) })

	var state, node string
	eventually(t, 20*time.Second, "job "+id+" RUNNING", func() bool {
		out, err := ssh(t, c, "squeue -h -j "+id+" -o '%T|%N|%u'")
		require.NoError(t, err)
		f := strings.Split(strings.TrimSpace(out), "|")
		if len(f) != 3 {
			return false
		}
		state, node = f[0], f[1]
		require.Equal(t, c.User, f[2])
		return state == "RUNNING"
	})
	require.Equal(t, "node2", node)

	// Reach the job's server from the login node, by node name.
	eventually(t, 20*time.Second, "the job's HTTP server", func() bool {
		out, err := ssh(t, c, fmt.Sprintf("curl -s -o /dev/null -w %%{http_code} http://node2:%d/", port))
		return err == nil && out == "200"
	})
	// And not from another node's address: the server lives in node2's namespace.
	_, err = ssh(t, c, fmt.Sprintf("curl -s -m 2 http://%s:%d/", c.NodeAddrs["node1"], port))
	require.Error(t, err)

	_, err = ssh(t, c, "scancel "+id)
	require.NoError(t, err)
	eventually(t, 20*time.Second, "job "+id+" CANCELLED", func() bool {
		out, _ := ssh(t, c, "squeue -h -t all -j "+id+" -o %T")
		return strings.TrimSpace(out) == "CANCELLED"
	})

	eventually(t, 30*time.Second, "job "+id+" in sacct", func() bool {
		out, err := ssh(t, c, "sacct -n -X -P -j "+id+" -o JobID,State,NodeList")
		return err == nil && strings.HasPrefix(strings.TrimSpace(out), id+"|CANCELLED by ") &&
			strings.HasSuffix(strings.TrimSpace(out), "|node2")
	})
}

func TestGPUPartitionSetsCUDAVisibleDevices(t *testing.T) {
	c := clustertest.Env(t)
	out, err := ssh(t, c, "srun -p "+c.GPUPartition+" --gres=gpu:1 -t 1 "+
		"bash -c 'echo $(hostname) $CUDA_VISIBLE_DEVICES'")
	require.NoError(t, err)
	// One of the two fake GPUs: which one depends on what else runs there.
	require.Regexp(t, "^"+c.GPUNode+" [01]$", strings.TrimSpace(out))
}

func TestMemoryLimitIsAJobCgroup(t *testing.T) {
	c := clustertest.Env(t)
	out, err := ssh(t, c, "srun -w node1 --mem=100M -t 1 cat /proc/self/cgroup")
	require.NoError(t, err)
	require.Regexp(t, `memory:/slurm_node1/uid_\d+/job_\d+/`, out)
}

func TestLoginNodeRefusesUnknownHostKey(t *testing.T) {
	c := clustertest.Env(t)
	err := exec.Command("ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=/dev/null", "-i", c.KeyFile, "-p", fmt.Sprint(c.SSHPort),
		c.User+"@"+c.SSHHost, "true").Run()
	require.Error(t, err, "a login without the known_hosts file must fail")
}

func TestNothingListensBeyondLoopbackAndBridge(t *testing.T) {
	clustertest.Env(t)
	out, err := exec.Command("ss", "-Htlnp").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.Contains(line, "slurm") && !strings.Contains(line, "sshd") &&
			!strings.Contains(line, "munge") && !strings.Contains(line, "mariadb") {
			continue
		}
		local := f[3]
		ok := strings.HasPrefix(local, "127.") || strings.HasPrefix(local, "10.77.0.") ||
			strings.HasPrefix(local, "[::1]")
		require.Truef(t, ok, "a cluster daemon listens beyond loopback and the bridge: %s", line)
	}
}
