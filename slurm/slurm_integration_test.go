//go:build integration

package slurm_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

// itCluster is one integration test's view of the cluster: a connection,
// a scheduler over it, and a folder in the user's home for job output.
type itCluster struct {
	t    *testing.T
	env  *clustertest.Cluster
	exec sshx.Executor
	dir  string // output folder, absolute, on the shared home
}

func newITCluster(t *testing.T) *itCluster {
	t.Helper()
	env := clustertest.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := sshx.Dial(ctx, sshx.Config{
		Host:            env.SSHHost,
		Port:            env.SSHPort,
		User:            env.User,
		IdentityFiles:   []string{env.KeyFile},
		KnownHostsFiles: []string{env.KnownHosts},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })

	c := &itCluster{t: t, env: env, exec: client,
		dir: env.Home + "/.hpcorch-test/" + slurm.UniqueName("slurm-it")}
	c.run("mkdir -p " + sshx.Quote(c.dir))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _, _ = client.Run(ctx, "rm -rf "+sshx.Quote(c.dir), nil)
	})
	return c
}

func (c *itCluster) run(cmd string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := c.exec.Run(ctx, cmd, nil)
	require.NoError(c.t, err, "%s: %s", cmd, errOut)
	return string(out)
}

// submit submits spec with a unique name and output in c.dir, and cancels
// the job at cleanup.
func (c *itCluster) submit(s slurm.Scheduler, spec slurm.JobSpec) string {
	c.t.Helper()
	if spec.Name == "" {
		spec.Name = slurm.UniqueName("slurm-it")
	}
	if spec.Output == "" {
		spec.Output = c.dir + "/%x-%j.out"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := s.Submit(ctx, spec)
	require.NoError(c.t, err)
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.Cancel(ctx, id)
	})
	return id
}

// wait polls Status until cond holds or d passes.
func (c *itCluster) wait(s slurm.Scheduler, id string, d time.Duration,
	cond func(slurm.Job) bool) slurm.Job {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var last slurm.Job
	for {
		res, err := s.Status(ctx, []string{id})
		if err == nil {
			last = res[id]
			if cond(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("job %s: condition not met within %v; last %+v (err %v)", id, d, last, err)
		case <-tick.C:
		}
	}
}

func terminal(j slurm.Job) bool { return j.State.Terminal() }

// output reads the job's output file through the connection.
func (c *itCluster) output(id, name string) string {
	c.t.Helper()
	return c.run("cat " + sshx.Quote(c.dir+"/"+name+"-"+id+".out"))
}

func TestIntegrationSubmitToPartitionAndNode(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{})
	node := c.env.Nodes[1]
	name := slurm.UniqueName("slurm-it-node")
	id := c.submit(s, slurm.JobSpec{
		Name:      name,
		Comment:   "hpcorch:it with spaces",
		Partition: c.env.Partition,
		NodeList:  node,
		Time:      5 * time.Minute,
		Mem:       "100M",
		Env:       map[string]string{"MSG": "it's \"fine\" $HOME"},
		Script:    `echo "host=$(hostname) id=$SLURM_JOB_ID name=$SLURM_JOB_NAME msg=$MSG"`,
	})

	j := c.wait(s, id, time.Minute, terminal)
	require.Equal(t, slurm.StateCompleted, j.State)
	require.Equal(t, []string{node}, j.Nodes)
	require.Equal(t, c.env.Partition, j.Partition)
	require.Equal(t, "hpcorch:it with spaces", j.Comment)
	require.Equal(t, slurm.Limit(5*time.Minute), j.TimeLimit)
	require.Equal(t, "host="+node+" id="+id+" name="+name+` msg=it's "fine" $HOME`+"\n",
		c.output(id, name))

	p, err := s.OutputPath(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, c.dir+"/"+name+"-"+id+".out", p)

	jobs, err := s.List(context.Background())
	require.NoError(t, err)
	found := false
	for _, lj := range jobs {
		found = found || lj.ID == id && lj.Name == name
	}
	require.True(t, found, "List has the job")
}

func TestIntegrationGresOnGPUPartition(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{})
	name := slurm.UniqueName("slurm-it-gpu")
	id := c.submit(s, slurm.JobSpec{
		Name:      name,
		Partition: c.env.GPUPartition,
		Gres:      "gpu:1",
		Time:      5 * time.Minute,
		Script:    `echo "cvd=$CUDA_VISIBLE_DEVICES node=$(hostname)"`,
	})
	j := c.wait(s, id, time.Minute, terminal)
	require.Equal(t, slurm.StateCompleted, j.State)
	require.Equal(t, []string{c.env.GPUNode}, j.Nodes)
	require.Equal(t, "cvd=0 node="+c.env.GPUNode+"\n", c.output(id, name))
}

func TestIntegrationOutOfMemory(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{})
	id := c.submit(s, slurm.JobSpec{
		Mem:    "50M",
		Time:   5 * time.Minute,
		Script: `python3 -c 'x = bytearray(300*1024*1024); print(len(x))'`,
	})
	j := c.wait(s, id, 2*time.Minute, terminal)
	require.Equal(t, slurm.StateOutOfMemory, j.State)
	require.True(t, j.Failed())
}

func TestIntegrationTimeout(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{})
	id := c.submit(s, slurm.JobSpec{Time: time.Minute, Script: "sleep 600"})
	// SLURM checks limits about every 30s: a 1-minute limit ends in ~76s.
	j := c.wait(s, id, 4*time.Minute, terminal)
	require.Equal(t, slurm.StateTimeout, j.State)
	require.Equal(t, "TimeLimit", j.Reason)
	require.True(t, j.Failed())
}

func TestIntegrationCancel(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{})
	id := c.submit(s, slurm.JobSpec{Time: 5 * time.Minute, Script: "sleep 600"})
	c.wait(s, id, time.Minute, func(j slurm.Job) bool { return j.State == slurm.StateRunning })

	require.NoError(t, s.Cancel(context.Background(), id))
	j := c.wait(s, id, time.Minute, terminal)
	require.Equal(t, slurm.StateCancelled, j.State)
	require.NoError(t, s.Cancel(context.Background(), id), "idempotent (BC-16)")
	require.NoError(t, s.Cancel(context.Background(), "999999"), "unknown job")
}

// hideFromSqueue makes squeue forget every job, as it does MinJobAge after
// a job ends, so that Status must ask sacct.
type hideFromSqueue struct {
	sshx.Executor
	mu    sync.Mutex
	calls map[string]int
}

func (h *hideFromSqueue) Run(ctx context.Context, cmd string,
	in io.Reader) ([]byte, []byte, error) {
	prog := strings.Fields(cmd)[0]
	h.mu.Lock()
	h.calls[prog]++
	h.mu.Unlock()
	if prog == "squeue" && strings.Contains(cmd, " -j ") {
		return nil, nil, nil
	}
	return h.Executor.Run(ctx, cmd, in)
}

func TestIntegrationStatusFromSacct(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{})
	done := c.submit(s, slurm.JobSpec{Time: 5 * time.Minute, Script: "exit 0"})
	failed := c.submit(s, slurm.JobSpec{Time: 5 * time.Minute, Script: "exit 3"})
	c.wait(s, done, time.Minute, terminal)
	c.wait(s, failed, time.Minute, terminal)

	h := &hideFromSqueue{Executor: c.exec, calls: map[string]int{}}
	viaSacct := slurm.New(h, slurm.Options{})
	// Accounting records arrive a little after the job ends.
	j := c.wait(viaSacct, failed, time.Minute, func(j slurm.Job) bool { return j.State.Terminal() })
	require.Equal(t, slurm.StateFailed, j.State)
	require.Equal(t, slurm.ExitCode{Code: 3}, j.ExitCode)

	h.calls = map[string]int{}
	res, err := viaSacct.Status(context.Background(), []string{done, failed, "999999"})
	require.NoError(t, err)
	require.Equal(t, slurm.StateCompleted, res[done].State)
	require.True(t, res[done].Found)
	require.False(t, res["999999"].Found, "gone everywhere")
	require.Equal(t, map[string]int{"squeue": 1, "sacct": 1}, h.calls)
}

func TestIntegrationRejectedSubmit(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{})
	_, err := s.Submit(context.Background(), slurm.JobSpec{Partition: "nosuch", Script: "true"})
	var se *slurm.SubmitError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, slurm.KindInvalidPartition, se.Kind)
	require.Equal(t, "nosuch", se.Partition)

	_, err = s.Submit(context.Background(), slurm.JobSpec{Partition: c.env.GPUPartition,
		Gres: "gpu:3", Script: "true"})
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, slurm.KindUnsatisfiable, se.Kind)
}

// lossyExec runs the first sbatch for real and then reports a transient
// failure, as when the answer of slurmctld is lost.
type lossyExec struct {
	sshx.Executor
	mu     sync.Mutex
	sbatch int
	squeue int
}

func (l *lossyExec) Run(ctx context.Context, cmd string, in io.Reader) ([]byte, []byte, error) {
	out, errOut, err := l.Executor.Run(ctx, cmd, in)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch strings.Fields(cmd)[0] {
	case "sbatch":
		l.sbatch++
		if l.sbatch == 1 && err == nil {
			msg := "sbatch: error: Batch job submission failed: " +
				"Socket timed out on send/recv operation\n"
			return nil, []byte(msg), &sshx.ExitError{Code: 1, Stderr: []byte(msg)}
		}
	case "squeue":
		l.squeue++
	}
	return out, errOut, err
}

func TestIntegrationTransientSubmitNoDuplicate(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	lossy := &lossyExec{Executor: c.exec}
	s := slurm.New(lossy, slurm.Options{Backoff: 100 * time.Millisecond})
	name := slurm.UniqueName("slurm-it-lossy")
	id := c.submit(s, slurm.JobSpec{Name: name, Time: 5 * time.Minute, Script: "sleep 600"})

	require.Equal(t, 1, lossy.sbatch, "never submitted twice")
	require.GreaterOrEqual(t, lossy.squeue, 1)
	out := c.run("squeue -h -t all --me -n " + sshx.Quote(name) + " -o %i")
	require.Equal(t, id+"\n", out, "exactly one job with the name")
}

func TestIntegrationPollerWatch(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	s := slurm.New(c.exec, slurm.Options{})
	p := slurm.NewPoller(s, 500*time.Millisecond)
	t.Cleanup(func() { require.NoError(t, p.Close()) })

	var ids []string
	for range 3 {
		ids = append(ids, c.submit(s, slurm.JobSpec{Time: 5 * time.Minute, Script: "sleep 2"}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, id := range ids {
		ch, err := p.Watch(ctx, id)
		require.NoError(t, err)
		var last slurm.Job
		for j := range ch {
			last = j
		}
		require.Equal(t, slurm.StateCompleted, last.State, "job %s", id)
	}
	require.Less(t, p.Calls(), 120, "one Status call per round, shared")
}

// flakyExec fails the first squeue status round as a controller restart
// does, then passes commands through.
type flakyExec struct {
	sshx.Executor
	mu     sync.Mutex
	failed bool
	calls  map[string]int
}

func (f *flakyExec) Run(ctx context.Context, cmd string, in io.Reader) ([]byte, []byte, error) {
	prog := strings.Fields(cmd)[0]
	f.mu.Lock()
	f.calls[prog]++
	fail := prog == "squeue" && strings.Contains(cmd, " -j ") && !f.failed
	f.failed = f.failed || fail
	f.mu.Unlock()
	if fail {
		msg := "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"
		return nil, []byte(msg), &sshx.ExitError{Code: 1, Stderr: []byte(msg)}
	}
	return f.Executor.Run(ctx, cmd, in)
}

func TestIntegrationPollerTransientThenSuccess(t *testing.T) {
	t.Parallel()
	c := newITCluster(t)
	id := c.submit(slurm.New(c.exec, slurm.Options{}),
		slurm.JobSpec{Time: 5 * time.Minute, Script: "sleep 600"})

	flaky := &flakyExec{Executor: c.exec, calls: map[string]int{}}
	p := slurm.NewPoller(slurm.New(flaky, slurm.Options{}), time.Hour)
	t.Cleanup(func() { require.NoError(t, p.Close()) })

	_, err := p.Get(context.Background(), id)
	require.True(t, slurm.IsTransient(err), "%v", err)
	require.NoError(t, p.Refresh(context.Background()))
	j, err := p.Get(context.Background(), id)
	require.NoError(t, err)
	require.True(t, j.Found)
	require.True(t, j.State == slurm.StatePending || j.State == slurm.StateRunning, j.State)
	require.Equal(t, map[string]int{"squeue": 2}, flaky.calls,
		"no sacct: a failed command is not a gone job")
}
