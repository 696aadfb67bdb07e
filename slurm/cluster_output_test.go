package slurm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The files in testdata/cluster were recorded from the throwaway SLURM
// 22.05 cluster as hpcuser, with the exact commands hpcorch runs.

func readCluster(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cluster", name))
	require.NoError(t, err)
	return b
}

func TestRecordedSqueue(t *testing.T) {
	jobs, err := ParseSqueue(readCluster(t, "squeue-all.txt"), time.UTC)
	require.NoError(t, err)
	require.Len(t, jobs, 25)
	byID := map[string]Job{}
	for _, j := range jobs {
		require.NotEqual(t, StateUnknown, j.State, j.RawState)
		byID[j.ID] = j
	}

	require.Equal(t, `hpcorch:v1 svc=a #b "q"`, byID["30"].Comment,
		"a quoted #SBATCH --comment survives sbatch and squeue")
	require.Equal(t, "", byID["10"].Comment, "(null) is no comment")
	require.Equal(t, "hpcorch:service:it-cd425409", byID["23"].Comment)

	require.Equal(t, StateTimeout, byID["12"].State)
	require.Equal(t, "TimeLimit", byID["12"].Reason)
	require.Equal(t, 70*time.Second, byID["12"].Elapsed)
	require.Equal(t, Limit(time.Minute), byID["12"].TimeLimit)

	require.Equal(t, StateFailed, byID["32"].State, "a rejected submit still uses an id")
	require.Equal(t, "BadConstraints", byID["32"].Reason)
	require.Empty(t, byID["32"].Nodes)

	require.Equal(t, []string{"node3"}, byID["14"].Nodes)
	require.Equal(t, "gpu", byID["14"].Partition)
	require.True(t, byID["33"].TimeLimit.Unlimited)
	require.Equal(t, time.Date(2026, 12, 3, 19, 19, 20, 0, time.UTC), byID["30"].StartTime)
}

func TestRecordedSacct(t *testing.T) {
	jobs, err := ParseSacct(readCluster(t, "sacct.txt"), time.UTC)
	require.NoError(t, err)
	require.Len(t, jobs, 7, "the unknown id 999999 has no row")
	byID := map[string]Job{}
	for _, j := range jobs {
		byID[j.ID] = j
	}
	require.Equal(t, StateCancelled, byID["1"].State)
	require.Equal(t, 2001, byID["1"].CancelledBy)
	require.Equal(t, ExitCode{0, 15}, byID["10"].ExitCode)
	require.Equal(t, StateTimeout, byID["11"].State)
	require.True(t, byID["11"].Failed(), "TIMEOUT with exit 0:0 is a failure")
	require.Equal(t, ExitCode{4, 0}, byID["27"].ExitCode)
	require.Equal(t, StateCompleted, byID["30"].State)
	require.Equal(t, 2*time.Second, byID["30"].Elapsed)
}

func TestRecordedErrors(t *testing.T) {
	kinds := map[string]SubmitErrorKind{
		"sbatch-partition.stderr": KindInvalidPartition,
		"sbatch-gres.stderr":      KindUnsatisfiable,
		"sbatch-node.stderr":      KindInvalidNode,
		"sbatch-mem.stderr":       KindUnsatisfiable,
		"sbatch-time.stderr":      KindInvalidTimeLimit,
		"sbatch-nodecount.stderr": KindUnsatisfiable,
	}
	for file, kind := range kinds {
		t.Run(file, func(t *testing.T) {
			var se *SubmitError
			require.True(t, errors.As(ClassifySubmitError(readCluster(t, file), 1), &se))
			require.Equal(t, kind, se.Kind, se.Error())
		})
	}
	require.Equal(t, squeueNoSuchJob, classifySqueue(readCluster(t, "squeue-unknown.stderr")))
	require.Equal(t, squeueBadID, classifySqueue(readCluster(t, "squeue-badid.stderr")))
	require.NoError(t, classifyCancel("999999", readCluster(t, "scancel-unknown.stderr"),
		exitErr(1, "")))
}
