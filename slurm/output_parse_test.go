package slurm

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/sshx"
)

func TestParseSubmission(t *testing.T) {
	// BC-01 and BC-02.
	tests := []struct {
		name           string
		stdout, stderr string
		id, cluster    string
		warnings       int
	}{
		{"cluster suffix", "Submitted batch job 3969755 on cluster clusterA\n", "",
			"3969755", "clusterA", 0},
		{"parsable multi-cluster", "75168975;clusterA\n", "", "75168975", "clusterA", 0},
		{"parsable", "7787233\n", "", "7787233", "", 0},
		{"default partition note", "Submitted batch job 7787234\n",
			"sbatch: no partition specified, using default partition part_serial\n",
			"7787234", "", 1},
		{"site INFO first", "Submitted batch job 38139957\n",
			"sbatch: INFO: Note that 128 GB per node will require a node with more than 128 GB memory\n" +
				"because of overhead. Check <site docs> for an appropriate limit.\n",
			"38139957", "", 2},
		{"banner on stdout", "-----------------------------------------------------------------\n" +
			"          Welcome to the Cluster3 Supercomputer\n" +
			"-----------------------------------------------------------------\n" +
			"--> Verifying valid submit host (login01)...OK\n" +
			"--> Checking available allocation (acct1)...OK\n" +
			"Submitted batch job 519605\n", "", "519605", "", 0},
		{"error text but rc 0", "Submitted batch job 1152535\n",
			"sbatch: error: \"SBATCH_EXCLUSIVE=true\" -- invalid value, ignoring...\n",
			"1152535", "", 1},
		{"parsable after banner", "Welcome to Cluster3\n3 nodes down today\n424242\n", "",
			"424242", "", 0},
		{"crlf", "99\r\n", "", "99", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := ParseSubmission([]byte(tt.stdout), []byte(tt.stderr))
			require.NoError(t, err)
			require.Equal(t, tt.id, sub.JobID)
			require.Equal(t, tt.cluster, sub.Cluster)
			require.Len(t, sub.Warnings, tt.warnings)
		})
	}

	for _, out := range []string{"", "Submitted batch job\n", "clusterA\n", "Cluster3 says hi\n",
		"Submitted batch job 12 on\n"} {
		_, err := ParseSubmission([]byte(out), nil)
		require.ErrorIs(t, err, ErrNoJobID, out)
	}
}

func TestClassifySubmitError(t *testing.T) {
	// BC-04: permanent rejections, typed, case-insensitive.
	tests := []struct {
		name      string
		stderr    string
		kind      SubmitErrorKind
		reason    string
		partition string
		site      []string
	}{
		{"qos submit limit",
			"sbatch: error: QOSMaxSubmitJobPerUserLimit\n" +
				"sbatch: error: Batch job submission failed: Job violates accounting/QOS policy " +
				"(job submit limit, user's size and/or time limits)\n",
			KindQOSLimit, "QOSMaxSubmitJobPerUserLimit", "", nil},
		{"assoc limit",
			"sbatch: error: AssocMaxSubmitJobLimit\n" +
				"sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (...)\n",
			KindQOSLimit, "AssocMaxSubmitJobLimit", "", nil},
		{"lower-case limit token",
			"sbatch: error: qosmaxwalldurationperjoblimit\n",
			KindQOSLimit, "qosmaxwalldurationperjoblimit", "", nil},
		{"account",
			"sbatch: error: Batch job submission failed: Invalid account or account/partition " +
				"combination specified\n",
			KindInvalidAccount, "Invalid account or account/partition combination specified", "", nil},
		{"partition",
			"sbatch: error: invalid partition specified: gpu-v100-32GB\n" +
				"sbatch: error: Batch job submission failed: Invalid partition name specified\n",
			KindInvalidPartition, "Invalid partition name specified", "gpu-v100-32GB", nil},
		{"placeholder partition (BC-05)",
			"sbatch.bin: error: invalid partition specified: <partition>\n",
			KindInvalidPartition, "", "<partition>", nil},
		{"site plugin",
			"sbatch: error:     --> error: requested timelimit exceeds max of 24 hours\n" +
				"sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (...)\n",
			KindQOSLimit, "Job violates accounting/QOS policy (...)", "",
			[]string{"--> error: requested timelimit exceeds max of 24 hours"}},
		{"time limit",
			"sbatch: error: Batch job submission failed: Requested time limit is invalid " +
				"(missing or exceeds some limit)\n",
			KindInvalidTimeLimit, "Requested time limit is invalid (missing or exceeds some limit)",
			"", nil},
		{"time spec", "sbatch: error: Invalid --time specification\n",
			KindInvalidTimeLimit, "", "", nil},
		{"qos", "sbatch: error: Batch job submission failed: Invalid qos specification\n",
			KindInvalidQOS, "Invalid qos specification", "", nil},
		{"memory",
			"sbatch: error: Memory specification can not be satisfied\n" +
				"sbatch: error: Batch job submission failed: Requested node configuration is not available\n",
			KindUnsatisfiable, "Requested node configuration is not available", "",
			[]string{"Memory specification can not be satisfied"}},
		{"gres", "sbatch: error: Invalid generic resource (gres) specification\n",
			KindInvalidGres, "", "", nil},
		{"node name",
			"sbatch: error: Batch job submission failed: Invalid node name specified\n",
			KindInvalidNode, "Invalid node name specified", "", nil},
		{"node count",
			"sbatch: error: Batch job submission failed: Node count specification invalid\n",
			KindUnsatisfiable, "Node count specification invalid", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ClassifySubmitError([]byte(tt.stderr), 1)
			var se *SubmitError
			require.True(t, errors.As(err, &se), "got %v", err)
			require.Equal(t, tt.kind, se.Kind, se.Error())
			if tt.reason != "" {
				require.Equal(t, tt.reason, se.Reason)
			}
			require.Equal(t, tt.partition, se.Partition)
			require.Equal(t, tt.site, se.SiteMessages)
			require.False(t, IsTransient(err))
		})
	}
}

func TestClassifySubmitErrorTransient(t *testing.T) {
	for _, stderr := range []string{
		"sbatch: error: Batch job submission failed: Unable to contact slurm controller " +
			"(connect failure)\n",
		"sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n",
		"sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n" +
			"sbatch: error: Batch job submission failed: Resource temporarily unavailable\n",
		"sbatch: error: SLURM_PROTOCOL_SOCKET_IMPL_TIMEOUT: Zero Bytes were transmitted or received\n",
	} {
		err := ClassifySubmitError([]byte(stderr), 1)
		require.True(t, IsTransient(err), stderr)
		var se *SubmitError
		require.False(t, errors.As(err, &se))
	}
}

func TestParseSqueue(t *testing.T) {
	loc := time.UTC
	out := "1|httpsrv|RUNNING|0:04|30:00|2026-12-03T18:16:13|debug|None|vm|(null)\n" +
		"2|wrap|PENDING|0:00|1-00:00:00|N/A|compute|ReqNodeNotAvail, May be reserved for other job||hpcorch:svc=a\n" +
		"3|big|PENDING|0:00|UNLIMITED|2026-12-04T00:00:00|gpu|Resources||\n" +
		"4|multi|RUNNING|1-02:03:04|2-00:00:00|2026-12-02T16:13:09|debug|None|node[1-3,7]|tag|with|bars\n" +
		"57829110_[5-100]|arr|PENDING|0:00|10:00|N/A|debug|JobArrayTaskLimit||\n" +
		"9|odd|EXPLODED|INVALID|NOT_SET|garbage|debug|None||\n"
	jobs, err := ParseSqueue([]byte(out), loc)
	require.NoError(t, err)
	require.Len(t, jobs, 6)

	j := jobs[0]
	require.Equal(t, "1", j.ID)
	require.Equal(t, "httpsrv", j.Name)
	require.Equal(t, StateRunning, j.State)
	require.Equal(t, 4*time.Second, j.Elapsed)
	require.Equal(t, Limit(30*time.Minute), j.TimeLimit)
	require.Equal(t, time.Date(2026, 12, 3, 18, 16, 13, 0, loc), j.StartTime)
	require.Equal(t, "debug", j.Partition)
	require.Equal(t, "", j.Reason)
	require.Equal(t, []string{"vm"}, j.Nodes)
	require.Equal(t, "", j.Comment)
	require.True(t, j.Found)
	require.Equal(t, -1, j.CancelledBy)

	// BC-10: the comma and space inside the reason do not split it.
	require.Equal(t, "ReqNodeNotAvail, May be reserved for other job", jobs[1].Reason)
	require.Empty(t, jobs[1].Nodes)
	require.True(t, jobs[1].StartTime.IsZero())
	require.Equal(t, "hpcorch:svc=a", jobs[1].Comment)

	require.True(t, jobs[2].StartTime.IsZero(), "expected start of a pending job is not a start")
	require.True(t, jobs[2].TimeLimit.Unlimited)

	require.Equal(t, []string{"node1", "node2", "node3", "node7"}, jobs[3].Nodes)
	require.Equal(t, "tag|with|bars", jobs[3].Comment)
	require.Equal(t, 26*time.Hour+3*time.Minute+4*time.Second, jobs[3].Elapsed)

	require.Equal(t, "57829110_[5-100]", jobs[4].ID)

	require.Equal(t, StateUnknown, jobs[5].State)
	require.Equal(t, "EXPLODED", jobs[5].RawState)
	require.False(t, jobs[5].TimeLimit.Set)

	_, err = ParseSqueue([]byte("1|short|RUNNING\n"), loc)
	require.Error(t, err)
}

func TestParseNodeListReason(t *testing.T) {
	// BC-10 NODELIST(REASON).
	tests := []struct {
		in     string
		nodes  []string
		reason string
	}{
		{"node-a", []string{"node-a"}, ""},
		{"(NodeDown)", nil, "NodeDown"},
		{"(BeginTime)", nil, "BeginTime"},
		{"(ReqNodeNotAvail, May be reserved for other job)", nil,
			"ReqNodeNotAvail, May be reserved for other job"},
		{"(JobArrayTaskLimit)", nil, "JobArrayTaskLimit"},
		{"node[01-02]", []string{"node01", "node02"}, ""},
		{"(None)", nil, ""},
	}
	for _, tt := range tests {
		nodes, reason, err := ParseNodeListReason(tt.in)
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.nodes, nodes, tt.in)
		require.Equal(t, tt.reason, reason, tt.in)
	}
}

func TestClassifySqueue(t *testing.T) {
	// BC-07.
	require.Equal(t, squeueNoSuchJob,
		classifySqueue([]byte("slurm_load_jobs error: Invalid job id specified\n")))
	require.Equal(t, squeueBadID, classifySqueue([]byte("squeue: error: Invalid job id: 88888888888\n")))
	require.Equal(t, squeueTransient, classifySqueue([]byte(
		"slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n")))
	require.Equal(t, squeueTransient, classifySqueue([]byte(
		"slurm_load_jobs error: Socket timed out on send/recv operation\n")))
	require.Equal(t, squeueFailed, classifySqueue([]byte("squeue: error: Invalid user: bob\n")))
}

func TestParseSacct(t *testing.T) {
	loc := time.UTC
	out := "2699001|2699001|V_JOB_0_0|CANCELLED by 54321|0:15|node2|00:00:01|UNLIMITED|" +
		"2026-12-03T18:16:13|debug||tag\n" +
		"2699102|2699102|V_JOB_2_0|OUT_OF_MEMORY|0:125|node[1-2]|00:01:00|00:30:00|" +
		"2026-12-03T18:00:00|debug|OutOfMemory|\n" +
		"2699102.batch|2699102.batch|batch|OUT_OF_MEMORY|0:125|node1|00:01:00||" +
		"2026-12-03T18:00:00|||\n" +
		"715219_23|715242|arr|COMPLETED|0:0|node3|00:00:00|Partition_Limit|Unknown|gpu|None|\n" +
		"5|5|cut|OUT_OF_ME+|x|node[|INVALID|bogus|nope|debug|None|\n"
	jobs, err := ParseSacct([]byte(out), loc)
	require.NoError(t, err)
	require.Len(t, jobs, 4, "the step row is skipped")

	require.Equal(t, StateCancelled, jobs[0].State)
	require.Equal(t, 54321, jobs[0].CancelledBy)
	require.Equal(t, ExitCode{0, 15}, jobs[0].ExitCode)
	require.Equal(t, "tag", jobs[0].Comment)
	require.True(t, jobs[0].TimeLimit.Unlimited)

	require.Equal(t, StateOutOfMemory, jobs[1].State)
	require.Equal(t, ExitCode{0, 125}, jobs[1].ExitCode)
	require.True(t, jobs[1].Failed())
	require.Equal(t, []string{"node1", "node2"}, jobs[1].Nodes)
	require.Equal(t, "OutOfMemory", jobs[1].Reason)
	require.Equal(t, time.Minute, jobs[1].Elapsed)

	require.Equal(t, "715219_23", jobs[2].ID)
	require.True(t, jobs[2].StartTime.IsZero())
	require.False(t, jobs[2].Failed())

	// A damaged row keeps what parses and does not drop the row (BC-06).
	require.Equal(t, "5", jobs[3].ID)
	require.Equal(t, StateUnknown, jobs[3].State)
	require.Equal(t, "OUT_OF_ME+", jobs[3].RawState)

	// BC-15: header only, rc 0: no such job.
	jobs, err = ParseSacct([]byte("JobID|JobIDRaw|JobName|State\n"), loc)
	require.NoError(t, err)
	require.Empty(t, jobs)

	_, err = ParseSacct([]byte("1|2|3\n"), loc)
	require.Error(t, err)
}

func TestClassifySacct(t *testing.T) {
	// BC-15: accounting down is not a job failure.
	cause := &sshx.ExitError{Code: 1}
	for _, stderr := range []string{
		"sacct: error: slurm_persist_conn_open_without_init: failed to open persistent " +
			"connection to host:dbhost:6819: Connection refused\n" +
			"sacct: error: Sending PersistInit msg: Connection refused\n",
		"sacct: error: Problem talking to the database: Connection refused\n",
		"sacct: error: slurmdbd: Unknown error 1021\n",
		"sacct: error: slurmdbd: Operation not permitted\n",
	} {
		err := classifySacct([]byte(stderr), cause)
		require.ErrorIs(t, err, ErrAccountingUnavailable, stderr)
		require.True(t, IsTransient(err), stderr)
		var ee *sshx.ExitError
		require.True(t, errors.As(err, &ee))
	}

	err := classifySacct([]byte("Slurm accounting storage is disabled\n"), cause)
	require.ErrorIs(t, err, ErrAccountingUnavailable)
	require.False(t, IsTransient(err), "disabled accounting does not come back by retrying")

	err = classifySacct([]byte("sacct: error: Unknown field 'Bogus'\n"), cause)
	require.NotErrorIs(t, err, ErrAccountingUnavailable)
}

func TestClassifyCancel(t *testing.T) {
	// BC-16: cancel is idempotent.
	ee := &sshx.ExitError{Code: 1}
	require.NoError(t, classifyCancel("8", []byte(
		"scancel: error: Kill job error on job id 8: Job/step already completing or completed\n"), ee))
	require.NoError(t, classifyCancel("5", []byte(
		"scancel: error: Kill job error on job id 5: Invalid job id specified\n"), ee))
	require.True(t, IsTransient(classifyCancel("5", []byte(
		"scancel: error: Kill job error on job id 5: Unable to contact slurm controller\n"), ee)))
	require.Error(t, classifyCancel("5", []byte("scancel: error: Access/permission denied\n"), ee))
	require.True(t, IsTransient(classifyCancel("5", nil, errors.New("connection lost"))))
}

func TestParseScontrol(t *testing.T) {
	line := "JobId=12 JobName=web UserId=hpcuser(2001) Comment=two words here " +
		"JobState=RUNNING Reason=None StdOut=/home/hpcuser/web-12.out " +
		"StdErr=/home/hpcuser/web-12.out Command=(null) TRES=cpu=1,mem=100M,node=1"
	kv := ParseScontrol(line)
	require.Equal(t, "12", kv["JobId"])
	require.Equal(t, "two words here", kv["Comment"])
	require.Equal(t, "/home/hpcuser/web-12.out", kv["StdOut"])
	require.Equal(t, "cpu=1,mem=100M,node=1", kv["TRES"])
	require.Equal(t, "hpcuser(2001)", kv["UserId"])
}
