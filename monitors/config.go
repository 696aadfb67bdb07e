package monitors

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// Names of the files in a monitor's run folder. Paths inside prometheus.yml
// are relative to it: Prometheus resolves them against the config file's
// folder, and the job runs in that folder.
const (
	configFile     = "prometheus.yml"
	webConfigFile  = "web.yml"
	passwordFile   = "password"
	recordFile     = "monitor.json"
	selfTargets    = "targets-self.json"
	dataDir        = "data"
	addedPattern   = "targets-added-*.json"
	selfJob        = "prometheus"
	addedJob       = "hpcorch-added"
	targetsPrefix  = "targets-"
	addedPrefix    = "targets-added-"
	targetsSuffix  = ".json"
	recordVersion  = 1
	passwordLength = 24 // random bytes, 32 characters in base64
)

// bcryptCost is the cost of the password's hash; tests lower it.
var bcryptCost = bcrypt.DefaultCost

// User is the basic-auth user name every monitor's Prometheus accepts. The
// password is generated per monitor and stored, mode 0600, in the file
// "password" of its run folder.
const User = "hpcorch"

// Labels set on every target of a monitor, besides Prometheus' own job and
// instance. For a service's target, instance is the node's name, as in
// container_memory_usage_bytes{instance="node2"}, and address keeps the
// host:port scraped; for other targets instance is host:port.
const (
	// LabelAddress is the host:port the target is scraped at.
	LabelAddress = "address"
	// LabelService is the hpcorch service ID the target belongs to.
	LabelService = "hpcorch_service"
	// LabelJobID is the SLURM job id of that service.
	LabelJobID = "job_id"
	// LabelNode is the node the target runs on.
	LabelNode = "node"
	// LabelCgroup is the service job's cgroup as cAdvisor names it (its
	// id label), when known: select the job's own series with
	// id="<value of hpcorch_cgroup>".
	LabelCgroup = "hpcorch_cgroup"
)

// targetGroup is one entry of a file_sd targets file.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// scrapeTarget is one thing a monitor scrapes, resolved to an address.
type scrapeTarget struct {
	// Job is the Prometheus job the target belongs to.
	Job string `json:"job"`
	// ServiceID is the hpcorch service, or "" for a fixed host.
	ServiceID string `json:"service_id,omitempty"`
	// JobID is that service's SLURM job id, or "".
	JobID string `json:"job_id,omitempty"`
	// Host and Port are the address scraped.
	Host string `json:"host"`
	Port int    `json:"port"`
	// Cgroup is the service job's cgroup, or "".
	Cgroup string `json:"cgroup,omitempty"`
}

// address returns host:port.
func (t scrapeTarget) address() string { return fmt.Sprintf("%s:%d", t.Host, t.Port) }

// group returns t as a file_sd target group with hpcorch's labels. withJob
// sets the job label too, for targets of the catch-all job.
func (t scrapeTarget) group(withJob bool) targetGroup {
	labels := map[string]string{LabelNode: t.Host}
	set := func(k, v string) {
		if v != "" {
			labels[k] = v
		}
	}
	set(LabelService, t.ServiceID)
	set(LabelJobID, t.JobID)
	set(LabelCgroup, t.Cgroup)
	if withJob {
		labels[string(model.JobLabel)] = t.Job
	}
	return targetGroup{Targets: []string{t.address()}, Labels: labels}
}

// scrapeJob is one job of prometheus.yml and its targets file.
type scrapeJob struct {
	// Name is the job name.
	Name string `json:"name"`
	// File is the targets file, relative to the run folder.
	File string `json:"file"`
	// Added marks a job made by AddTarget, scraped by the catch-all job.
	Added bool `json:"added,omitempty"`
	// Targets are its targets.
	Targets []scrapeTarget `json:"targets"`
}

// record is monitor.json: what a later process needs to change a
// monitor's targets. It is the source of the targets files.
type record struct {
	Version        int         `json:"version"`
	Created        time.Time   `json:"created"`
	ScrapeInterval string      `json:"scrape_interval"`
	Retention      string      `json:"retention"`
	Jobs           []scrapeJob `json:"jobs"`
}

// job returns the job named name, or nil.
func (r *record) job(name string) *scrapeJob {
	for i := range r.Jobs {
		if r.Jobs[i].Name == name {
			return &r.Jobs[i]
		}
	}
	return nil
}

// targetsFile returns the file of a new job named name: a name made safe
// for a file, unique among the record's files.
func (r *record) targetsFile(name string, added bool) string {
	prefix := targetsPrefix + "job-"
	if added {
		prefix = addedPrefix
	}
	base := prefix + fileSafe(name)
	file := base + targetsSuffix
	for i := 2; r.hasFile(file); i++ {
		file = fmt.Sprintf("%s-%d%s", base, i, targetsSuffix)
	}
	return file
}

func (r *record) hasFile(f string) bool {
	for _, j := range r.Jobs {
		if j.File == f {
			return true
		}
	}
	return false
}

// fileSafe keeps letters, digits, "-", "_" and "." of s and replaces the
// rest with "_".
func fileSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '-' || c == '_' || c == '.' || c >= 'a' && c <= 'z' ||
			c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// targetsJSON renders the targets file of j.
func targetsJSON(j scrapeJob) ([]byte, error) {
	groups := make([]targetGroup, 0, len(j.Targets))
	for _, t := range j.Targets {
		groups = append(groups, t.group(j.Added))
	}
	data, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("monitors: targets of job %s: %w", j.Name, err)
	}
	return append(data, '\n'), nil
}

// promConfig is the part of Prometheus' configuration hpcorch writes.
type promConfig struct {
	Global        promGlobal     `yaml:"global"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type promGlobal struct {
	ScrapeInterval     string `yaml:"scrape_interval"`
	EvaluationInterval string `yaml:"evaluation_interval"`
}

type scrapeConfig struct {
	JobName        string          `yaml:"job_name"`
	BasicAuth      *basicAuthConf  `yaml:"basic_auth,omitempty"`
	FileSDConfigs  []fileSDConfig  `yaml:"file_sd_configs"`
	RelabelConfigs []relabelConfig `yaml:"relabel_configs,omitempty"`
}

type relabelConfig struct {
	SourceLabels []string `yaml:"source_labels,flow"`
	Separator    string   `yaml:"separator,omitempty"`
	Regex        string   `yaml:"regex,omitempty"`
	TargetLabel  string   `yaml:"target_label"`
	Replacement  string   `yaml:"replacement,omitempty"`
}

// targetRelabels keep the scraped host:port in LabelAddress and, for a
// service's targets (those with LabelService), make instance the node's
// name, so that queries select a node as people name it.
var targetRelabels = []relabelConfig{
	{SourceLabels: []string{"__address__"}, TargetLabel: LabelAddress},
	{SourceLabels: []string{LabelService, LabelNode}, Separator: ";", Regex: ".+;(.+)",
		TargetLabel: "instance", Replacement: "$1"},
}

type basicAuthConf struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

type fileSDConfig struct {
	Files           []string `yaml:"files"`
	RefreshInterval string   `yaml:"refresh_interval"`
}

// configHeader heads the generated prometheus.yml.
const configHeader = `# Generated by hpcorch (package monitors). The targets of every job are in
# the targets-*.json files beside this one; AddTarget and RemoveTarget rewrite
# them and Prometheus picks them up without a restart.
`

// prometheusYAML renders prometheus.yml for rec: a self-scrape job (with
// basic auth, since the server asks for it), one file_sd job per recipe
// target job, and a catch-all job for the targets AddTarget adds under new
// job names; the target jobs relabel as targetRelabels says. Targets
// files are re-read at the scrape interval as well as on change, since a
// shared home on NFS does not report changes made from another host.
func prometheusYAML(rec *record) ([]byte, error) {
	refresh := rec.ScrapeInterval
	if d, err := model.ParseDuration(refresh); err != nil || time.Duration(d) < 5*time.Second {
		refresh = "5s"
	}
	fileSD := func(files ...string) []fileSDConfig {
		return []fileSDConfig{{Files: files, RefreshInterval: refresh}}
	}

	cfg := promConfig{
		Global: promGlobal{
			ScrapeInterval:     rec.ScrapeInterval,
			EvaluationInterval: rec.ScrapeInterval,
		},
	}
	cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, scrapeConfig{
		JobName:       selfJob,
		BasicAuth:     &basicAuthConf{Username: User, PasswordFile: passwordFile},
		FileSDConfigs: fileSD(selfTargets),
	})
	for _, j := range rec.Jobs {
		if j.Added {
			continue
		}
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, scrapeConfig{
			JobName:        j.Name,
			FileSDConfigs:  fileSD(j.File),
			RelabelConfigs: targetRelabels,
		})
	}
	cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, scrapeConfig{
		JobName:        addedJob,
		FileSDConfigs:  fileSD(addedPattern),
		RelabelConfigs: targetRelabels,
	})

	var b bytes.Buffer
	b.WriteString(configHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("monitors: render %s: %w", configFile, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("monitors: render %s: %w", configFile, err)
	}
	return b.Bytes(), nil
}

// webYAML renders web.yml, which makes Prometheus ask for basic auth with
// User and a password whose bcrypt hash is hash.
func webYAML(hash []byte) ([]byte, error) {
	cfg := map[string]map[string]string{"basic_auth_users": {User: string(hash)}}
	var b bytes.Buffer
	b.WriteString("# Generated by hpcorch: Prometheus asks every request for basic auth.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("monitors: render %s: %w", webConfigFile, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("monitors: render %s: %w", webConfigFile, err)
	}
	return b.Bytes(), nil
}

// newPassword returns a random password and its bcrypt hash. The password
// holds 192 random bits: no guessing reaches it, whatever the bcrypt cost.
func newPassword() (password string, hash []byte, err error) {
	raw := make([]byte, passwordLength)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, fmt.Errorf("monitors: generate password: %w", err)
	}
	password = base64.RawURLEncoding.EncodeToString(raw)

	hash, err = bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", nil, fmt.Errorf("monitors: hash password: %w", err)
	}
	return password, hash, nil
}
