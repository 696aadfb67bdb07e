package recipe

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The walltime forms of sbatch's man page (BC-06).
func TestWalltimeDuration(t *testing.T) {
	good := map[string]time.Duration{
		"":             0,
		"10":           10 * time.Minute,
		"90":           90 * time.Minute,
		"4:00":         4 * time.Minute, // MM:SS, not 4h
		"90:30":        90*time.Minute + 30*time.Second,
		"1:00:00":      time.Hour,
		"01:00:00":     time.Hour,
		"100:00:00":    100 * time.Hour,
		"2-12":         60 * time.Hour,
		"1-02:03":      26*time.Hour + 3*time.Minute,
		"1-02:03:04":   26*time.Hour + 3*time.Minute + 4*time.Second,
		"365-00:00:00": 8760 * time.Hour,
		" 00:30:00 ":   30 * time.Minute,
	}
	for in, want := range good {
		got, err := Walltime(in).Duration()
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}

	bad := []string{"0", "00:00:00", "3600.0", "1h", "2h30m", "1:2:3:4", "-1", "1-",
		"1--2", "a:b", "1:60", "1:60:00", "1:00:60", "1-24", "1-10:60", "UNLIMITED",
		"infinite", "2024-01-02", "1-2-3", "1.5", "1:30.5", "9999999999"}
	for _, in := range bad {
		_, err := Walltime(in).Duration()
		require.ErrorIs(t, err, ErrInvalid, in)
	}
}

func TestParseMem(t *testing.T) {
	good := map[string]int64{
		"0":    0,
		"500":  500 << 20,
		"100M": 100 << 20,
		"100m": 100 << 20,
		"4G":   4 << 30,
		"16GB": 16 << 30,
		"16gb": 16 << 30,
		"512K": 512 << 10,
		"1T":   1 << 40,
		"2TB":  2 << 40,
	}
	for in, want := range good {
		got, err := ParseMem(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}

	for _, in := range []string{"", "1.5G", "4 G", "G", "4X", "4GiB", "-4G", "4B", "4GBB",
		"99999999999999999999", "9999999999T"} {
		_, err := ParseMem(in)
		require.ErrorIs(t, err, ErrInvalid, in)
	}
	_, err := ParseMem("1.5G")
	require.ErrorContains(t, err, "write 1536M")
}

func TestMemArg(t *testing.T) {
	for in, want := range map[string]string{
		"16GB": "16G", "16G": "16G", "500": "500", "4gb": "4g", "": "", "junk": "junk",
	} {
		require.Equal(t, want, Resources{Mem: in}.MemArg(), in)
	}
}

func TestPromDuration(t *testing.T) {
	for _, in := range []string{"15s", "1m", "30d", "1h30m", "2w", "1y", "500ms", "1d12h"} {
		require.NoError(t, checkPromDuration(in), in)
	}
	for _, in := range []string{"", "15", "1.5h", "30 d", "m", "1m1h", "15S", "-1d"} {
		require.ErrorIs(t, checkPromDuration(in), ErrInvalid, in)
	}
}

// Image references are normalised (BC-18).
func TestNormalizeSource(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"docker://ollama/ollama:latest":   "docker://ollama/ollama:latest",
		"docker://docker://org/img:0.2":   "docker://org/img:0.2",
		"docker://docker://docker://x":    "docker://x",
		"redis:7":                         "docker://redis:7",
		" redis:7 ":                       "docker://redis:7",
		"oras://ghcr.io/org/img:1":        "oras://ghcr.io/org/img:1",
		"library://sylabs/default/alpine": "library://sylabs/default/alpine",
	} {
		require.Equal(t, want, NormalizeSource(in), in)
	}

	require.NoError(t, checkSource("redis:7"))
	require.NoError(t, checkSource("docker://docker://x"))
	require.ErrorIs(t, checkSource("ftp://x"), ErrInvalid)
	require.ErrorIs(t, checkSource("docker://"), ErrInvalid)
	require.ErrorIs(t, checkSource("docker://x y"), ErrInvalid)
	require.ErrorIs(t, checkSource("docker://$IMG"), ErrInvalid)
}

// Binds are src[:dst[:ro|rw]] with absolute paths (BC-20).
func TestParseBind(t *testing.T) {
	good := map[string]Bind{
		"/data":               {"/data", "/data", ""},
		"/data:/mnt":          {"/data", "/mnt", ""},
		"/data:/mnt:ro":       {"/data", "/mnt", "ro"},
		"$HOME/data:/data:rw": {"$HOME/data", "/data", "rw"},
		"${SCRATCH}/x:/x":     {"${SCRATCH}/x", "/x", ""},
		"~/models:/models:ro": {"~/models", "/models", "ro"},
		"$TMPDIR:/tmp":        {"$TMPDIR", "/tmp", ""},
	}
	for in, want := range good {
		got, err := ParseBind(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}

	for _, in := range []string{"", "data", "/a:b", "/a:/b:rx", "/a:/b:ro:x", "$(pwd):/x",
		"~bob/x:/x", "$1/x:/x", "./x:/x"} {
		_, err := ParseBind(in)
		require.ErrorIs(t, err, ErrInvalid, in)
	}
}

func TestCheckShellWord(t *testing.T) {
	for _, ok := range []string{"", "plain", "$HOME/x", "${SLURM_JOB_ID}", "~", "~/x",
		"a$", "100%", "it's"} {
		require.NoError(t, checkShellWord(ok), ok)
	}
	for _, bad := range []string{"$(id)", "a`id`", "x\x00y", "~root/x"} {
		require.ErrorIs(t, checkShellWord(bad), ErrInvalid, bad)
	}
}

// Values that end up in #SBATCH lines must not carry $ or placeholders
// (BC-05).
func TestCheckSlurmWord(t *testing.T) {
	for _, ok := range []string{"gpu", "debug", "acct-1", "normal", "gpu-v100-32GB"} {
		require.NoError(t, checkSlurmWord(ok), ok)
	}
	for _, bad := range []string{"None", "<partition>", "<nil>", "$proj", "${ACCOUNT}",
		"a b", "a;b", "null"} {
		require.ErrorIs(t, checkSlurmWord(bad), ErrInvalid, bad)
	}
}
