package servers

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpcorch/hpcorch/recipes"
	"github.com/hpcorch/hpcorch/slurm"
	"github.com/hpcorch/hpcorch/sshx"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// dryRunServers returns a Servers whose run root needs no remote lookup
// and whose IDs are fixed, for golden scripts.
func dryRunServers(t *testing.T, opts Options) *Servers {
	t.Helper()
	if opts.RunRoot == "" {
		opts.RunRoot = "/home/hpcuser/.hpcorch/run"
	}
	s := New(&sshx.Local{}, slurm.NewLocal(slurm.LocalOptions{StateDir: t.TempDir()}), opts)
	s.newID = func() string { return "0a1b2c3d" }
	return s
}

// TestDryRunGolden renders every catalog recipe and compares it with
// testdata/golden/<name>.sh; -update rewrites them.
func TestDryRunGolden(t *testing.T) {
	names := recipes.List()
	require.NotEmpty(t, names)
	s := dryRunServers(t, Options{})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r, err := recipes.Load(name)
			require.NoError(t, err)
			got, err := s.DryRun(context.Background(), r)
			require.NoError(t, err)

			file := filepath.Join("testdata", "golden", name+".sh")
			if *update {
				require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "run go test -update to create the golden file")
			if diff := firstDiff(string(want), got); diff != "" {
				t.Fatalf("%s differs from the dry run (go test -update rewrites it):\n%s",
					file, diff)
			}

			// The script must at least parse.
			out, err := exec.Command("bash", "-n", file).CombinedOutput()
			require.NoError(t, err, "%s", out)

			// A catalog service moves off a busy port (BC-22): two of them
			// on one node, or two users', never collide. Monitors choose
			// their command, and so their port, in package monitors.
			if r.Service.IsMonitor() {
				return
			}
			for _, p := range r.Service.Ports {
				require.Contains(t, got, fmt.Sprintf("hpcorch_pick %d 1 ", p),
					"%s hard-codes port %d: use ${HPCORCH_PORT}", name, p)
			}
		})
	}
}

// firstDiff describes the first line where want and got differ, or
// returns "" when they are equal.
func firstDiff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %q\n  got:  %q", i+1, wl, gl)
		}
	}
	return "trailing difference"
}
