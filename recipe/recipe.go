package recipe

import (
	"strings"
	"time"
)

// Defaults that apply when a recipe leaves a field out.
const (
	// DefaultCAdvisorPort is the port cAdvisor is asked to listen on when
	// enable_cadvisor is true and cadvisor_port is not given.
	DefaultCAdvisorPort Port = 8080

	// DefaultRetention is how long Prometheus keeps samples when neither
	// retention nor PROMETHEUS_RETENTION_TIME is given.
	DefaultRetention = "15d"

	// DefaultScrapeInterval is how often Prometheus scrapes its targets
	// when scrape_interval is not given.
	DefaultScrapeInterval = "15s"

	// DefaultHealthTimeout is how long a service may take to pass its
	// health check when health_check.timeout is not given.
	DefaultHealthTimeout = 5 * time.Minute

	// DefaultHealthInterval is the pause between two health probes when
	// health_check.interval is not given.
	DefaultHealthInterval = 5 * time.Second

	// RetentionEnv is the environment variable through which the
	// reference tool's recipes set Prometheus' retention.
	RetentionEnv = "PROMETHEUS_RETENTION_TIME"
)

// Recipe is one service recipe file. Its only top-level key is "service".
//
// A Recipe returned by Load or Decode remembers the file it came from and
// where each value stood in it, so that Validate can point at lines; a
// Recipe built in code validates the same way, without positions. A Recipe
// is a plain value: it is not safe to modify concurrently, but any number of
// goroutines may read it.
type Recipe struct {
	// Service is the service the recipe describes.
	Service Service `yaml:"service"`

	file string
	pos  map[string]position
}

// File returns the name the recipe was loaded or decoded from, or "" for a
// Recipe built in code.
func (r *Recipe) File() string { return r.file }

// Service describes a program to run as a SLURM job: bare on a compute node
// or inside an Apptainer image, with the resources it asks for, the ports
// it serves, how to tell it is ready and, for a Prometheus monitor, what to
// scrape.
//
// # Variables in values
//
// Command, Args, Environment values and every path (ContainerImage,
// Container.ImagePath, Container.BindMounts) are handed to the job's shell
// on the compute node, which expands $HOME, $USER, ~ and any other $NAME or
// ${NAME} there, at run time, with the cluster user's values. hpcorch never
// expands them with the values of the machine it runs on. Command
// substitution ($(...) and backquotes) is rejected.
type Service struct {
	// Name names the service; the job name and the service ID derive
	// from it. It is required, and holds letters, digits, "_", "-" and
	// "." (at most 64).
	Name string `yaml:"name"`

	// Description is free text for people.
	Description string `yaml:"description" recipe:"literal"`

	// ContainerImage is the reference tool's short way to name an image:
	// a file name is taken under $HOME/containers, a path as it is. Setting
	// it makes the service a container service. Container.ImagePath wins
	// when both are given; see ImagePath.
	ContainerImage string `yaml:"container_image"`

	// Command is the program to run, one word (its arguments go in
	// Args). When empty, a monitor runs "prometheus", another container
	// service runs its image's runscript, and a bare service runs the
	// program named like the service; see Program.
	Command string `yaml:"command"`

	// Args are the program's arguments, one word each. Numbers and words
	// such as no are kept exactly as written.
	Args []string `yaml:"args" recipe:"literal"`

	// EnableCAdvisor starts cAdvisor beside the service so that a
	// Prometheus monitor can scrape the job's container metrics.
	EnableCAdvisor bool `yaml:"enable_cadvisor"`

	// CAdvisorPort is the port cAdvisor is asked to listen on; 0 means
	// DefaultCAdvisorPort.
	CAdvisorPort Port `yaml:"cadvisor_port"`

	// Container, when set, runs the service in an Apptainer image.
	Container *Container `yaml:"container"`

	// Resources is what the job asks SLURM for. Fields left empty take
	// the cluster config's slurm defaults (see Config.Apply), then the
	// cluster's own.
	Resources Resources `yaml:"resources"`

	// Environment is exported to the service. Values are kept exactly as
	// written (DEBUG: no stays "no"; PORT: 08080 stays "08080"); a value
	// left empty is the empty string.
	Environment map[string]string `yaml:"environment"`

	// Ports are the TCP ports the service listens on, the first being
	// its main one.
	Ports []Port `yaml:"ports"`

	// HealthCheck, when set, says how to tell the service is ready.
	HealthCheck *HealthCheck `yaml:"health_check"`

	// MonitoringTargets are what a Prometheus monitor scrapes. Giving
	// the key, even as an empty list, makes the recipe a monitor.
	MonitoringTargets []Target `yaml:"monitoring_targets"`

	// ScrapeInterval is a monitor's scrape interval in Prometheus'
	// duration form ("15s", "1m"); empty means DefaultScrapeInterval.
	ScrapeInterval string `yaml:"scrape_interval"`

	// Retention is how long a monitor keeps samples, in Prometheus'
	// duration form ("15d", "12h"); see RetentionTime.
	Retention string `yaml:"retention"`
}

// Kind says how a service runs.
type Kind string

// The kinds of service.
const (
	// KindBare runs Command directly on the compute node.
	KindBare Kind = "bare"

	// KindContainer runs inside an Apptainer image.
	KindContainer Kind = "container"
)

// Kind returns KindContainer when the service has a container block or a
// container_image, and KindBare otherwise.
func (s *Service) Kind() Kind {
	if s.Container != nil || s.ContainerImage != "" {
		return KindContainer
	}
	return KindBare
}

// IsMonitor reports whether the service is a Prometheus monitor: its name
// is "prometheus", or it has the monitoring_targets key (even empty).
func (s *Service) IsMonitor() bool {
	return s.Name == "prometheus" || s.MonitoringTargets != nil
}

// Program returns the program the service runs: Command when set; else
// "prometheus" for a monitor (bare or in a container), "" for another
// container service (the image's runscript runs), and Name for any other
// bare service.
func (s *Service) Program() string {
	switch {
	case s.Command != "":
		return s.Command
	case s.IsMonitor():
		return "prometheus"
	case s.Kind() == KindContainer:
		return ""
	}
	return s.Name
}

// ImagePath returns where the service's image lives on the cluster, as
// written (with $HOME and ~ unexpanded): Container.ImagePath when set; else
// ContainerImage, as it is when it holds a "/" or starts with "$" or "~",
// and under $HOME/containers/ when it is a bare file name. It returns ""
// for a bare service.
func (s *Service) ImagePath() string {
	if s.Container != nil && s.Container.ImagePath != "" {
		return s.Container.ImagePath
	}
	img := s.ContainerImage
	if img == "" || strings.ContainsAny(img[:1], "$~") || strings.Contains(img, "/") {
		return img
	}
	return "$HOME/containers/" + img
}

// CAdvisorPortOrDefault returns CAdvisorPort, or DefaultCAdvisorPort when
// it is 0.
func (s *Service) CAdvisorPortOrDefault() Port {
	if s.CAdvisorPort == 0 {
		return DefaultCAdvisorPort
	}
	return s.CAdvisorPort
}

// RetentionTime returns how long a monitor keeps samples: Retention when
// set, else the PROMETHEUS_RETENTION_TIME environment entry (the reference
// tool's way), else DefaultRetention. Validate rejects a recipe that sets
// both to different values.
func (s *Service) RetentionTime() string {
	if s.Retention != "" {
		return s.Retention
	}
	if v := s.Environment[RetentionEnv]; v != "" {
		return v
	}
	return DefaultRetention
}

// ScrapeIntervalOrDefault returns ScrapeInterval, or DefaultScrapeInterval
// when it is empty.
func (s *Service) ScrapeIntervalOrDefault() string {
	if s.ScrapeInterval == "" {
		return DefaultScrapeInterval
	}
	return s.ScrapeInterval
}

// Container says which Apptainer image a service runs in and what it sees
// of the cluster's file systems.
type Container struct {
	// DockerSource is where to build the image from when ImagePath does
	// not exist yet, such as "docker://ollama/ollama:latest". It may be
	// empty when the image is already on the cluster. See Source for the
	// normalised form.
	DockerSource string `yaml:"docker_source"`

	// ImagePath is the image file (or sandbox folder) on the cluster's
	// shared storage, such as "$HOME/containers/ollama_latest.sif".
	ImagePath string `yaml:"image_path"`

	// BindMounts are Apptainer binds, each "src[:dst[:ro|rw]]" with
	// absolute paths ($HOME/... and ~/... count as absolute); see
	// ParseBind.
	BindMounts []string `yaml:"bind_mounts"`
}

// Source returns DockerSource normalised: "docker://docker://x" becomes
// "docker://x" and a reference with no scheme, such as "redis:7", gets
// "docker://". It returns "" when DockerSource is empty.
func (c *Container) Source() string { return NormalizeSource(c.DockerSource) }

// Resources is what a job asks SLURM for. Every field is optional; an
// empty one is left out of the batch script, so the cluster's default
// applies. The same type holds the cluster config's slurm defaults.
type Resources struct {
	// Time is the walltime in one of sbatch's forms; see Walltime.
	Time Walltime `yaml:"time"`

	// Partition, Account and QOS select where the job runs and who pays.
	Partition string `yaml:"partition"`
	Account   string `yaml:"account"`
	QOS       string `yaml:"qos"`

	// Nodes, NTasks, NTasksPerNode and CPUsPerTask are sbatch's
	// --nodes, --ntasks, --ntasks-per-node and --cpus-per-task.
	Nodes         int `yaml:"nodes"`
	NTasks        int `yaml:"ntasks"`
	NTasksPerNode int `yaml:"ntasks_per_node"`
	CPUsPerTask   int `yaml:"cpus_per_task"`

	// Mem is --mem in SLURM's form: a whole number of megabytes ("500")
	// or a number with a K, M, G or T suffix, optionally followed by B
	// ("100M", "4G", "16GB"). "0" asks for all of a node's memory. See
	// MemArg and ParseMem.
	Mem string `yaml:"mem"`

	// Gres is --gres, such as "gpu:1" or "gpu:a100:2".
	Gres string `yaml:"gres"`

	// NodeList is --nodelist, a SLURM hostlist such as "node[1-3]".
	NodeList string `yaml:"nodelist"`
}

// WithDefaults returns r with every empty field taken from d.
func (r Resources) WithDefaults(d Resources) Resources {
	pick := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	pickInt := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}

	r.Time = Walltime(pick(string(r.Time), string(d.Time)))
	r.Partition = pick(r.Partition, d.Partition)
	r.Account = pick(r.Account, d.Account)
	r.QOS = pick(r.QOS, d.QOS)
	r.Nodes = pickInt(r.Nodes, d.Nodes)
	r.NTasks = pickInt(r.NTasks, d.NTasks)
	r.NTasksPerNode = pickInt(r.NTasksPerNode, d.NTasksPerNode)
	r.CPUsPerTask = pickInt(r.CPUsPerTask, d.CPUsPerTask)
	r.Mem = pick(r.Mem, d.Mem)
	r.Gres = pick(r.Gres, d.Gres)
	r.NodeList = pick(r.NodeList, d.NodeList)
	return r
}

// MemArg returns Mem in the form hpcorch passes to --mem: the number and a
// one-letter unit, without a trailing B ("16GB" gives "16G", "500" stays
// "500"). It returns Mem unchanged when Mem is empty or malformed.
func (r Resources) MemArg() string {
	if _, err := ParseMem(r.Mem); err != nil || r.Mem == "" {
		return r.Mem
	}
	return strings.TrimRight(r.Mem, "bB")
}

// Port is a TCP port number, 1 to 65535. In YAML it is a plain decimal
// number: 08080 is rejected, since YAML 1.1 reads leading zeros as octal.
type Port int

// CheckType names a kind of health check.
type CheckType string

// The kinds of health check.
const (
	// CheckTCP passes once a TCP connection to the port succeeds.
	CheckTCP CheckType = "tcp"

	// CheckHTTP passes once an HTTP GET is answered with a status below
	// 500 and, when Expect is set, a body that contains Expect.
	CheckHTTP CheckType = "http"

	// CheckLog passes once the service's output contains Expect.
	CheckLog CheckType = "log"

	// CheckCommand passes once Command exits 0 on the service's node.
	CheckCommand CheckType = "command"
)

// HealthCheck says how to tell that a service is ready. The check is
// repeated every Interval until it passes or Timeout has passed.
type HealthCheck struct {
	// Type is tcp, http, log or command. When empty it is inferred; see
	// EffectiveType.
	Type CheckType `yaml:"type"`

	// Endpoint is what to probe, as seen from the service's node: a URL
	// ("http://localhost:11434/api/tags") for http, "host:port" for tcp.
	// When empty, Path and Port are used on the service's node.
	Endpoint string `yaml:"endpoint"`

	// Path is the URL path an http check asks for; empty means "/".
	Path string `yaml:"path"`

	// Port is the port to probe; 0 means the service's first port.
	Port Port `yaml:"port"`

	// Expect is text the http response body or, for a log check, the
	// service's output must contain.
	Expect string `yaml:"expect" recipe:"literal"`

	// Command is the program and arguments a command check runs.
	Command []string `yaml:"command" recipe:"literal"`

	// Timeout bounds how long the service may take to become healthy; 0
	// means DefaultHealthTimeout. In YAML it is a duration such as "5m"
	// or a whole number of seconds.
	Timeout time.Duration `yaml:"timeout"`

	// Interval is the pause between probes; 0 means
	// DefaultHealthInterval. In YAML it is written like Timeout.
	Interval time.Duration `yaml:"interval"`
}

// EffectiveType returns Type when set; otherwise it infers the type: http
// for an http(s) Endpoint or a Path, tcp for another Endpoint or a Port,
// command for a Command, and log for an Expect alone. It returns "" when
// nothing says what to check.
func (h *HealthCheck) EffectiveType() CheckType {
	switch {
	case h.Type != "":
		return h.Type
	case strings.HasPrefix(h.Endpoint, "http://"), strings.HasPrefix(h.Endpoint, "https://"),
		h.Path != "":
		return CheckHTTP
	case h.Endpoint != "", h.Port != 0:
		return CheckTCP
	case len(h.Command) > 0:
		return CheckCommand
	case h.Expect != "":
		return CheckLog
	}
	return ""
}

// TimeoutOrDefault returns Timeout, or DefaultHealthTimeout when it is 0.
func (h *HealthCheck) TimeoutOrDefault() time.Duration {
	if h.Timeout == 0 {
		return DefaultHealthTimeout
	}
	return h.Timeout
}

// IntervalOrDefault returns Interval, or DefaultHealthInterval when it is
// 0.
func (h *HealthCheck) IntervalOrDefault() time.Duration {
	if h.Interval == 0 {
		return DefaultHealthInterval
	}
	return h.Interval
}

// Target is one thing a Prometheus monitor scrapes: a running hpcorch
// service, found by its service ID, or a fixed host.
type Target struct {
	// ServiceID names a running service (such as "ollama_abc123"); its
	// node is looked up when the monitor starts. Exactly one of
	// ServiceID and Host is set.
	ServiceID string `yaml:"service_id"`

	// Host is a node name or address to scrape directly.
	Host string `yaml:"host"`

	// JobName is the Prometheus job label; empty means ServiceID or
	// Host. Targets sharing a JobName form one Prometheus job.
	JobName string `yaml:"job_name"`

	// Port is the metrics port; 0 means DefaultCAdvisorPort.
	Port Port `yaml:"port"`
}

// Job returns JobName, or else ServiceID, or else Host.
func (t Target) Job() string {
	switch {
	case t.JobName != "":
		return t.JobName
	case t.ServiceID != "":
		return t.ServiceID
	}
	return t.Host
}

// PortOrDefault returns Port, or DefaultCAdvisorPort when it is 0.
func (t Target) PortOrDefault() Port {
	if t.Port == 0 {
		return DefaultCAdvisorPort
	}
	return t.Port
}
