package slurm

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func FuzzParseState(f *testing.F) {
	for _, s := range []string{"CANCELLED by 54321", "OUT_OF_ME+", "PD", "", "by 1", "R R"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, by, err := ParseState(s)
		if err != nil {
			require.Equal(t, StateUnknown, st)
			require.Equal(t, -1, by)
			return
		}
		require.NotEqual(t, StateUnknown, st)
		again, _, err := ParseState(st.String())
		require.NoError(t, err)
		require.Equal(t, st, again)
	})
}

func FuzzParseWalltime(f *testing.F) {
	for _, s := range []string{"10", "4:00", "2-12", "1-02:03:04", "UNLIMITED", "N/A",
		"00:00:01.5", "365-00:00:00", "1:2:3:4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWalltime(s)
		if err != nil {
			require.ErrorIs(t, err, ErrBadWalltime)
			return
		}
		if !w.Set || w.Unlimited || w.Unknown {
			return
		}
		require.GreaterOrEqual(t, w.Duration, time.Duration(0))
		whole := w.Duration.Truncate(time.Second)
		back, err := ParseWalltime(FormatDuration(whole))
		require.NoError(t, err)
		require.Equal(t, whole, back.Duration)
	})
}

func FuzzParseJobID(f *testing.F) {
	for _, s := range []string{"1", "57829110_[5-100]", "2653343_[3-4%2]", "715219_23.batch",
		"1+0", "12_[1,3-5:2]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseJobID(s)
		if err != nil {
			require.ErrorIs(t, err, ErrBadJobID)
			return
		}
		again, err := ParseJobID(r.String())
		require.NoError(t, err)
		require.Equal(t, r, again)
		if validJobID(s) {
			// Ids passed to commands unquoted must be shell-inert.
			require.NotContainsf(t, s, " ", "%q", s)
			require.Equal(t, -1, strings.IndexAny(s, ";&|$`'\"\\<>(){}*?!~\n\t"), s)
		}
	})
}

func FuzzExpandHostlist(f *testing.F) {
	for _, s := range []string{"node[01-03,7]", "rack[0-1]_blade[0-1]", "a,b[1,3],c",
		"node[3-1]", "[]", "x[1-100000]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hosts, err := ExpandHostlist(s)
		if err != nil {
			require.ErrorIs(t, err, ErrBadHostlist)
			return
		}
		require.LessOrEqual(t, len(hosts), maxHosts)
		for _, h := range hosts {
			require.NotEmpty(t, h)
			require.False(t, strings.ContainsAny(h, "[],"), "%q from %q", h, s)
		}
	})
}

func FuzzParseSubmission(f *testing.F) {
	f.Add("Submitted batch job 3969755 on cluster clusterA\n", "")
	f.Add("banner 3\n75168975;clusterA\n", "sbatch: error: x\n")
	f.Fuzz(func(t *testing.T, stdout, stderr string) {
		sub, err := ParseSubmission([]byte(stdout), []byte(stderr))
		if err != nil {
			require.ErrorIs(t, err, ErrNoJobID)
			return
		}
		require.Regexp(t, `^[0-9]+$`, sub.JobID)
		require.Contains(t, stdout, sub.JobID)
	})
}

func FuzzClassifySubmitError(f *testing.F) {
	f.Add("sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission " +
		"failed: Job violates accounting/QOS policy\n")
	f.Add("sbatch: error: invalid partition specified: x\n")
	f.Fuzz(func(t *testing.T, stderr string) {
		err := ClassifySubmitError([]byte(stderr), 1)
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), "slurm: "), err.Error())
	})
}

func FuzzParseSqueue(f *testing.F) {
	f.Add("1|httpsrv|RUNNING|0:04|30:00|2026-12-03T18:16:13|debug|None|vm|(null)\n")
	f.Add("2|x|PD|0:00|UNLIMITED|N/A|p|(Resources)|(Resources)|a|b\n")
	f.Fuzz(func(t *testing.T, out string) {
		jobs, err := ParseSqueue([]byte(out), time.UTC)
		if err != nil {
			return
		}
		for _, j := range jobs {
			require.True(t, j.Found)
		}
	})
}

func FuzzParseSacct(f *testing.F) {
	f.Add("1|1|n|CANCELLED by 0|0:15|node[1-2]|00:00:01|UNLIMITED|2026-12-03T18:16:13|d||c\n")
	f.Fuzz(func(t *testing.T, out string) {
		jobs, err := ParseSacct([]byte(out), time.UTC)
		if err != nil {
			return
		}
		for _, j := range jobs {
			require.True(t, j.Found)
			require.NotContains(t, j.ID, ".")
		}
	})
}
