package recipes

import (
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/stretchr/testify/require"
)

func TestList(t *testing.T) {
	require.Equal(t, []string{
		"chroma", "chroma_with_cadvisor",
		"mini_http_bare", "mini_http_container", "mini_prometheus",
		"ollama", "ollama_with_cadvisor",
		"prometheus", "prometheus_with_cadvisor",
		"redis", "redis_with_cadvisor",
	}, List())
}

// Every recipe of the catalog decodes strictly and validates, and the
// embedded copy is the file in the repository.
func TestCatalogLoads(t *testing.T) {
	for _, name := range List() {
		t.Run(name, func(t *testing.T) {
			r, err := Load(name)
			require.NoError(t, err)
			require.NoError(t, r.Validate())
			require.Equal(t, "recipes/services/"+name+".yaml", r.File())

			onDisk, err := recipe.Load("services/" + name + ".yaml")
			require.NoError(t, err)
			require.Equal(t, r.Service, onDisk.Service)

			s := r.Service
			require.NotEmpty(t, s.Description)
			require.NotEmpty(t, s.Ports)
			require.NotNil(t, s.HealthCheck, "every catalog recipe says when it is ready")
			require.NotEmpty(t, s.Resources.Time)
		})
	}
}

// The real-cluster recipes build their images from docker:// sources into
// $HOME/containers; the throwaway cluster's reach no registry.
func TestCatalogRealCluster(t *testing.T) {
	ports := map[string]recipe.Port{
		"ollama": 11434, "redis": 6379, "chroma": 8000, "prometheus": 9090,
	}
	for base, port := range ports {
		for _, name := range []string{base, base + "_with_cadvisor"} {
			t.Run(name, func(t *testing.T) {
				r, err := Load(name)
				require.NoError(t, err)
				s := r.Service
				require.Equal(t, base, s.Name)
				require.Equal(t, recipe.KindContainer, s.Kind())
				require.True(t, strings.HasPrefix(s.Container.Source(), "docker://"))
				require.Regexp(t, `^\$HOME/containers/[a-z0-9_]+\.sif$`, s.ImagePath())
				require.Equal(t, port, s.Ports[0])

				withCAdvisor := strings.HasSuffix(name, "_with_cadvisor") && base != "prometheus"
				require.Equal(t, withCAdvisor, s.EnableCAdvisor)
				if withCAdvisor {
					require.Equal(t, recipe.Port(8080), s.CAdvisorPortOrDefault())
				}
				if base == "ollama" {
					require.Equal(t, "gpu", s.Resources.Partition)
					require.Equal(t, "gpu:1", s.Resources.Gres)
				} else {
					require.Empty(t, s.Resources.Gres)
				}
				require.Equal(t, base == "prometheus", s.IsMonitor())
			})
		}
	}

	r, err := Load("prometheus_with_cadvisor")
	require.NoError(t, err)
	require.Equal(t, []recipe.Target{{ServiceID: "ollama_abc123", JobName: "ollama-cadvisor",
		Port: 8080}}, r.Service.MonitoringTargets)
	require.Equal(t, "15d", r.Service.RetentionTime())
}

func TestCatalogMiniCluster(t *testing.T) {
	bare, err := Load("mini_http_bare")
	require.NoError(t, err)
	s := bare.Service
	require.Equal(t, recipe.KindBare, s.Kind())
	require.Equal(t, "busybox", s.Program())
	require.Equal(t, []string{"httpd", "-f", "-p", "${HPCORCH_PORT}", "-h", "$HOME/www"}, s.Args)
	require.True(t, s.EnableCAdvisor)
	require.Equal(t, []recipe.Port{18080}, s.Ports)
	require.Equal(t, recipe.CheckHTTP, s.HealthCheck.EffectiveType())

	ctr, err := Load("mini_http_container")
	require.NoError(t, err)
	s = ctr.Service
	require.Equal(t, recipe.KindContainer, s.Kind())
	require.Empty(t, s.Container.DockerSource, "no registry on the throwaway cluster")
	require.Equal(t, "$HOME/images/hpcorch-test.sif", s.ImagePath())
	require.Equal(t, []string{"httpd", "-f", "-p", "${HPCORCH_PORT}", "-h", "/www"}, s.Args)
	require.True(t, s.EnableCAdvisor)
	require.Equal(t, []recipe.Port{18090}, s.Ports)

	prom, err := Load("mini_prometheus.yaml")
	require.NoError(t, err)
	s = prom.Service
	require.Equal(t, recipe.KindBare, s.Kind())
	require.True(t, s.IsMonitor())
	require.Empty(t, s.MonitoringTargets)
	require.Equal(t, "prometheus", s.Program())
	require.Equal(t, []recipe.Port{9090}, s.Ports)
	require.Equal(t, "1d", s.RetentionTime())
	require.Equal(t, "5s", s.ScrapeIntervalOrDefault())
}

func TestLoadUnknown(t *testing.T) {
	for _, name := range []string{"nope", "", "../recipe/doc", "services/ollama"} {
		_, err := Load(name)
		require.ErrorIs(t, err, fs.ErrNotExist, name)
		require.ErrorContains(t, err, "recipes: no recipe")
	}

	_, err := Load("redis_with_cadvsior")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, `did you mean "redis_with_cadvisor"?`)
	_, err = Load("Redis-With-Cadvisor.yaml")
	require.ErrorContains(t, err, `did you mean "redis_with_cadvisor"?`)
}

// Nothing in services/ escapes the embed pattern.
func TestEveryFileEmbedded(t *testing.T) {
	entries, err := os.ReadDir("services")
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		require.True(t, strings.HasSuffix(e.Name(), ".yaml"), "%s is not embedded", e.Name())
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	require.Equal(t, List(), names)
}
