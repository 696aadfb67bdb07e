package recipe

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// valid returns a small valid service to change one field of.
func valid() Service {
	return Service{Name: "web", Command: "busybox", Args: []string{"httpd"},
		Ports: []Port{18080}}
}

func TestValidateInCode(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Service)
		path string
		kind error
		want string
	}{
		{"ok", func(*Service) {}, "", nil, ""},
		{"no name", func(s *Service) { s.Name = "" }, "service.name", ErrMissing, ""},
		{"long name", func(s *Service) { s.Name = strings.Repeat("a", 65) }, "service.name",
			ErrInvalid, ""},
		{"command with args", func(s *Service) { s.Command = "ollama serve" },
			"service.command", ErrInvalid, "put the program in command"},
		{"substitution in args", func(s *Service) { s.Args = []string{"$(hostname)"} },
			"service.args[0]", ErrInvalid, "command substitution"},
		{"container without image", func(s *Service) { s.Container = &Container{} },
			"service.container.image_path", ErrMissing, ""},
		{"container with container_image", func(s *Service) {
			s.Container, s.ContainerImage = &Container{DockerSource: "redis:7"}, "r.sif"
		}, "", nil, ""},
		{"bad source", func(s *Service) {
			s.Container = &Container{DockerSource: "ftp://x", ImagePath: "/a.sif"}
		}, "service.container.docker_source", ErrInvalid, ""},
		{"bad bind", func(s *Service) {
			s.Container = &Container{ImagePath: "/a.sif", BindMounts: []string{"rel:/x"}}
		}, "service.container.bind_mounts[0]", ErrInvalid, ""},
		{"same bind destination", func(s *Service) {
			s.Container = &Container{ImagePath: "/a.sif",
				BindMounts: []string{"/a:/data", "/b:/data:ro"}}
		}, "service.container.bind_mounts[1]", ErrInvalid, "already bound by bind_mounts[0]"},
		{"bind inside another, same files", func(s *Service) {
			s.Container = &Container{ImagePath: "/a.sif",
				BindMounts: []string{"/apps/x:/opt/x", "/apps:/opt"}}
		}, "service.container.bind_mounts[0]", ErrInvalid,
			`bind "/apps/x:/opt/x" is inside bind_mounts[1] ("/apps:/opt") already`},
		{"bind inside another, other files", func(s *Service) {
			s.Container = &Container{ImagePath: "/a.sif",
				BindMounts: []string{"/apps:/opt", "/scratch/x:/opt/x", "/apps/x:/opt/x2",
					"/apps/y:/opt/y:ro", "/optimal:/optimal"}}
		}, "", nil, ""},
		{"image path spaces", func(s *Service) { s.ContainerImage = " a.sif" },
			"service.container_image", ErrInvalid, ""},
		{"cadvisor port", func(s *Service) { s.CAdvisorPort = 70000 },
			"service.cadvisor_port", ErrInvalid, ""},
		{"hpcorch's own variable", func(s *Service) {
			s.Environment = map[string]string{"HPCORCH_RUN_DIR": "$HOME/data"}
		}, "service.environment.HPCORCH_RUN_DIR", ErrInvalid, "HPCORCH_RUN_DIR is set by hpcorch"},
		{"SLURM's variable", func(s *Service) {
			s.Environment = map[string]string{"SLURM_JOB_ID": "1"}
		}, "service.environment.SLURM_JOB_ID", ErrInvalid, "set by SLURM"},
		{"the login's HOME", func(s *Service) {
			s.Environment = map[string]string{"HOME": "/tmp"}
		}, "service.environment.HOME", ErrInvalid, "set by the login"},
		{"a name of the service's own", func(s *Service) {
			s.Environment = map[string]string{"HPCORCHX": "1", "MY_HOME": "/tmp", "PATH": "/x"}
		}, "", nil, ""},
		{"cadvisor default port clash", func(s *Service) {
			s.EnableCAdvisor, s.Ports = true, []Port{9000, 8080}
		}, "service.ports[1]", ErrInvalid, "port 8080 is cAdvisor's default too"},
		{"cadvisor port clash", func(s *Service) {
			s.EnableCAdvisor, s.Ports, s.CAdvisorPort = true, []Port{9000}, 9000
		}, "service.cadvisor_port", ErrInvalid, "also a port of the service"},
		{"duplicate port", func(s *Service) { s.Ports = []Port{1, 1} }, "service.ports[1]",
			ErrInvalid, "listed twice"},
		{"negative cpus", func(s *Service) { s.Resources.CPUsPerTask = -1 },
			"service.resources.cpus_per_task", ErrInvalid, ""},
		{"unlimited", func(s *Service) { s.Resources.Time = "UNLIMITED" },
			"service.resources.time", ErrInvalid, "leave time out"},
		{"account with $", func(s *Service) { s.Resources.Account = "$proj" },
			"service.resources.account", ErrInvalid, "sbatch expands no variables"},
		{"partition None", func(s *Service) { s.Resources.Partition = "None" },
			"service.resources.partition", ErrInvalid, "placeholder"},
		{"gres", func(s *Service) { s.Resources.Gres = "gpu:a100:2,shard:1" }, "", nil, ""},
		{"bad gres", func(s *Service) { s.Resources.Gres = ":1" },
			"service.resources.gres", ErrInvalid, ""},
		{"nodelist", func(s *Service) { s.Resources.NodeList = "node[1-3],gpu01" }, "", nil,
			""},
		{"bad nodelist", func(s *Service) { s.Resources.NodeList = "node 1" },
			"service.resources.nodelist", ErrInvalid, ""},
		{"env name", func(s *Service) { s.Environment = map[string]string{"1X": "a"} },
			"service.environment.1X", ErrInvalid, ""},
		{"env substitution", func(s *Service) {
			s.Environment = map[string]string{"H": "`hostname`"}
		}, "service.environment.H", ErrInvalid, ""},
		{"retention", func(s *Service) { s.Retention = "30 days" }, "service.retention",
			ErrInvalid, ""},
		{"retention env", func(s *Service) {
			s.Environment = map[string]string{RetentionEnv: "30"}
		}, "service.environment." + RetentionEnv, ErrInvalid, ""},
		{"retention conflict", func(s *Service) {
			s.Retention, s.Environment = "7d", map[string]string{RetentionEnv: "30d"}
		}, "service.retention", ErrInvalid, "disagrees"},
		{"retention same", func(s *Service) {
			s.Retention, s.Environment = "7d", map[string]string{RetentionEnv: "7d"}
		}, "", nil, ""},
		{"scrape interval", func(s *Service) { s.ScrapeInterval = "15" },
			"service.scrape_interval", ErrInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Recipe{Service: valid()}
			tc.edit(&r.Service)
			err := r.Validate()
			if tc.kind == nil {
				require.NoError(t, err)
				return
			}
			fe := one(t, err)
			require.Equal(t, tc.path, fe.Path, "error: %v", fe)
			require.ErrorIs(t, fe, tc.kind)
			require.Contains(t, fe.Error(), tc.want)
			require.Zero(t, fe.Line)
			require.True(t, strings.HasPrefix(fe.Error(), "recipe: "+tc.path+": "), fe.Error())
		})
	}
}

func TestValidateHealthCheck(t *testing.T) {
	tests := []struct {
		name  string
		hc    HealthCheck
		ports []Port
		typ   CheckType
		path  string
		kind  error
	}{
		{"http by path", HealthCheck{Path: "/api/tags"}, []Port{1}, CheckHTTP, "", nil},
		{"http by url", HealthCheck{Endpoint: "http://localhost:1/x"}, nil, CheckHTTP, "", nil},
		{"tcp by endpoint", HealthCheck{Endpoint: "localhost:6379"}, nil, CheckTCP, "", nil},
		{"tcp by port", HealthCheck{Port: 6379}, nil, CheckTCP, "", nil},
		{"command", HealthCheck{Command: []string{"redis-cli", "ping"}}, nil, CheckCommand,
			"", nil},
		{"log", HealthCheck{Expect: "Listening"}, nil, CheckLog, "", nil},
		{"explicit type wins", HealthCheck{Type: CheckTCP, Path: "/x"}, []Port{1}, CheckTCP,
			"", nil},
		{"nothing", HealthCheck{Timeout: time.Second}, nil, "", "service.health_check",
			ErrMissing},
		{"unknown type", HealthCheck{Type: "ping"}, nil, "ping", "service.health_check.type",
			ErrInvalid},
		{"tcp without port", HealthCheck{Type: CheckTCP}, nil, CheckTCP,
			"service.health_check.port", ErrMissing},
		{"http uses service port", HealthCheck{Type: CheckHTTP}, []Port{80}, CheckHTTP, "",
			nil},
		{"log without expect", HealthCheck{Type: CheckLog}, nil, CheckLog,
			"service.health_check.expect", ErrMissing},
		{"command without command", HealthCheck{Type: CheckCommand}, nil, CheckCommand,
			"service.health_check.command", ErrMissing},
		{"bad url", HealthCheck{Type: CheckHTTP, Endpoint: "localhost:80"}, nil, CheckHTTP,
			"service.health_check.endpoint", ErrInvalid},
		{"bad host port", HealthCheck{Type: CheckTCP, Endpoint: "localhost"}, nil, CheckTCP,
			"service.health_check.endpoint", ErrInvalid},
		{"relative path", HealthCheck{Path: "api"}, []Port{1}, CheckHTTP,
			"service.health_check.path", ErrInvalid},
		{"negative timeout", HealthCheck{Port: 1, Timeout: -time.Second}, nil, CheckTCP,
			"service.health_check.timeout", ErrInvalid},
		{"port range", HealthCheck{Port: 65536}, nil, CheckTCP, "service.health_check.port",
			ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			s.Ports = tc.ports
			hc := tc.hc
			s.HealthCheck = &hc
			require.Equal(t, tc.typ, hc.EffectiveType())
			err := (&Recipe{Service: s}).Validate()
			if tc.kind == nil {
				require.NoError(t, err)
				return
			}
			fe := one(t, err)
			require.Equal(t, tc.path, fe.Path, "error: %v", fe)
			require.ErrorIs(t, fe, tc.kind)
		})
	}

	hc := HealthCheck{}
	require.Equal(t, DefaultHealthTimeout, hc.TimeoutOrDefault())
	require.Equal(t, DefaultHealthInterval, hc.IntervalOrDefault())
	hc = HealthCheck{Timeout: time.Minute, Interval: time.Second}
	require.Equal(t, time.Minute, hc.TimeoutOrDefault())
	require.Equal(t, time.Second, hc.IntervalOrDefault())
}

func TestValidateTargets(t *testing.T) {
	tests := []struct {
		name string
		tg   Target
		path string
		kind error
	}{
		{"service id", Target{ServiceID: "ollama_abc123", JobName: "j", Port: 8080}, "", nil},
		{"host", Target{Host: "node1"}, "", nil},
		{"address", Target{Host: "10.77.0.11", Port: 18081}, "", nil},
		{"neither", Target{JobName: "j"}, "service.monitoring_targets[0]", ErrMissing},
		{"both", Target{ServiceID: "a", Host: "b"}, "service.monitoring_targets[0].host",
			ErrInvalid},
		{"bad id", Target{ServiceID: "a b"}, "service.monitoring_targets[0].service_id",
			ErrInvalid},
		{"bad host", Target{Host: "http://x"}, "service.monitoring_targets[0].host",
			ErrInvalid},
		{"bad port", Target{Host: "x", Port: -1}, "service.monitoring_targets[0].port",
			ErrInvalid},
		{"bad job", Target{Host: "x", JobName: `a"b`},
			"service.monitoring_targets[0].job_name", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Service{Name: "prometheus", MonitoringTargets: []Target{tc.tg}}
			err := (&Recipe{Service: s}).Validate()
			if tc.kind == nil {
				require.NoError(t, err)
				return
			}
			fe := one(t, err)
			require.Equal(t, tc.path, fe.Path, "error: %v", fe)
			require.ErrorIs(t, fe, tc.kind)
		})
	}

	require.Equal(t, "j", Target{ServiceID: "a", JobName: "j"}.Job())
	require.Equal(t, "a", Target{ServiceID: "a"}.Job())
	require.Equal(t, "h", Target{Host: "h"}.Job())
	require.Equal(t, DefaultCAdvisorPort, Target{Host: "h"}.PortOrDefault())
	require.Equal(t, Port(9100), Target{Host: "h", Port: 9100}.PortOrDefault())
}

// Validate places its errors at the file positions of the decoded values.
func TestValidatePositions(t *testing.T) {
	_, err := decode(t, `
service:
	name: x
	container:
		bind_mounts: [/a:/d, /b:/d]
	environment:
		bad-name: 1
`)
	fes := FieldErrors(err)
	require.Len(t, fes, 3, "%v", err)
	require.Equal(t, "service.container.image_path", fes[0].Path)
	require.Equal(t, [2]int{3, 3}, [2]int{fes[0].Line, fes[0].Column}, "at the key")
	require.Equal(t, "service.container.bind_mounts[1]", fes[1].Path)
	require.Equal(t, [2]int{4, 26}, [2]int{fes[1].Line, fes[1].Column})
	require.Equal(t, "service.environment.bad-name", fes[2].Path)
	require.Equal(t, [2]int{6, 5}, [2]int{fes[2].Line, fes[2].Column})
}

func TestServiceHelpers(t *testing.T) {
	s := Service{Name: "redis-server"}
	require.Equal(t, KindBare, s.Kind())
	require.Equal(t, "redis-server", s.Program())
	require.False(t, s.IsMonitor())
	require.Empty(t, s.ImagePath())
	require.Equal(t, DefaultCAdvisorPort, s.CAdvisorPortOrDefault())
	require.Equal(t, DefaultScrapeInterval, s.ScrapeIntervalOrDefault())

	s = Service{Name: "x", ContainerImage: "x.sif", CAdvisorPort: 9999, ScrapeInterval: "5s"}
	require.Equal(t, KindContainer, s.Kind())
	require.Empty(t, s.Program(), "the image's runscript")
	require.Equal(t, "$HOME/containers/x.sif", s.ImagePath())
	require.Equal(t, Port(9999), s.CAdvisorPortOrDefault())
	require.Equal(t, "5s", s.ScrapeIntervalOrDefault())

	for img, want := range map[string]string{
		"/opt/x.sif": "/opt/x.sif", "$SCRATCH/x.sif": "$SCRATCH/x.sif",
		"~/x.sif": "~/x.sif", "images/x.sif": "images/x.sif",
	} {
		require.Equal(t, want, (&Service{ContainerImage: img}).ImagePath())
	}
	s.Container = &Container{ImagePath: "/b.sif"}
	require.Equal(t, "/b.sif", s.ImagePath())

	s = Service{Name: "prometheus"}
	require.True(t, s.IsMonitor())
	require.Equal(t, "15d", s.RetentionTime())
	s.Environment = map[string]string{RetentionEnv: "30d"}
	require.Equal(t, "30d", s.RetentionTime())
	s.Retention = "7d"
	require.Equal(t, "7d", s.RetentionTime())
}

func TestWithDefaults(t *testing.T) {
	d := Resources{Time: "01:00:00", Partition: "batch", Account: "acct", QOS: "normal",
		Nodes: 1, NTasks: 1, NTasksPerNode: 1, CPUsPerTask: 2, Mem: "1G", Gres: "gpu:1",
		NodeList: "n1"}
	require.Equal(t, d, Resources{}.WithDefaults(d))

	r := Resources{Time: "00:10:00", Partition: "gpu", CPUsPerTask: 8, Mem: "16G"}
	got := r.WithDefaults(d)
	require.Equal(t, Walltime("00:10:00"), got.Time)
	require.Equal(t, "gpu", got.Partition)
	require.Equal(t, "acct", got.Account)
	require.Equal(t, "normal", got.QOS)
	require.Equal(t, 8, got.CPUsPerTask)
	require.Equal(t, "16G", got.Mem)
	require.Equal(t, r, r.WithDefaults(Resources{}))
}

// TestExplicitZeroPorts: a port written as 0 is refused wherever ports are,
// as in ports: [0], even where leaving the key out means a default.
func TestExplicitZeroPorts(t *testing.T) {
	tests := []struct {
		name, doc, path, want string
	}{
		{"ports", "service:\n\tname: x\n\tcommand: run\n\tports: [0]\n", "service.ports[0]",
			"port 0 is out of range"},
		{"cadvisor_port", "service:\n\tname: x\n\tcommand: run\n\tenable_cadvisor: true\n" +
			"\tcadvisor_port: 0\n", "service.cadvisor_port", "leave it out for cAdvisor's " +
			"default, 8080"},
		{"health_check.port", "service:\n\tname: x\n\tcommand: run\n\tports: [80]\n" +
			"\thealth_check: {type: tcp, port: 0}\n", "service.health_check.port",
			"leave it out for the service's first port"},
		{"target port", "service:\n\tname: p\n\tcommand: prometheus\n\tports: [9090]\n" +
			"\tmonitoring_targets:\n\t\t- {service_id: a_12345678, port: 0}\n",
			"service.monitoring_targets[0].port", "leave it out for the default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(t, tc.doc)
			fes := FieldErrors(err)
			require.Len(t, fes, 1, "%v", err)
			require.Equal(t, tc.path, fes[0].Path)
			require.ErrorIs(t, fes[0], ErrInvalid)
			require.Contains(t, fes[0].Error(), tc.want)
			require.NotZero(t, fes[0].Line)
		})
	}

	// Left out, they mean their defaults.
	_, err := decode(t, "service:\n\tname: x\n\tcommand: run\n\tenable_cadvisor: true\n")
	require.NoError(t, err)
}
