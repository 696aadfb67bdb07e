//go:build integration

package recipes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hpcorch/hpcorch/internal/clustertest"
	"github.com/stretchr/testify/require"
)

// The throwaway cluster's recipes assume what `make cluster-up` provides:
// the test image in the user's home, busybox and prometheus on every node
// (the nodes share this machine's file system).
func TestMiniRecipesMatchCluster(t *testing.T) {
	env := clustertest.Env(t)

	ctr, err := Load("mini_http_container")
	require.NoError(t, err)
	img := strings.Replace(ctr.Service.ImagePath(), "$HOME", env.Home, 1)
	require.Equal(t, filepath.Clean(env.TestImage), filepath.Clean(img))
	require.FileExists(t, img)

	for _, name := range []string{"mini_http_bare", "mini_http_container"} {
		r, err := Load(name)
		require.NoError(t, err)
		require.Equal(t, "busybox", r.Service.Program())
	}
	require.FileExists(t, "/bin/busybox")

	// mini_http_bare serves a folder of its own, never the home folder
	// (its keys, the monitors' passwords) to whoever reaches the node.
	bare, err := Load("mini_http_bare")
	require.NoError(t, err)
	served := bare.Service.Args[len(bare.Service.Args)-1]
	require.Equal(t, "$HOME/www", served)
	require.FileExists(t, filepath.Join(env.Home, "www", "index.html"))
	require.NoDirExists(t, filepath.Join(env.Home, "www", ".ssh"))
	require.NoDirExists(t, filepath.Join(env.Home, "www", ".hpcorch"))

	prom, err := Load("mini_prometheus")
	require.NoError(t, err)
	require.Equal(t, filepath.Base(env.PrometheusBin), prom.Service.Program())
	info, err := os.Stat(env.PrometheusBin)
	require.NoError(t, err)
	require.NotZero(t, info.Mode()&0o111, "prometheus is executable")
}
