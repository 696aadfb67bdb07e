package recipe_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hpcorch/hpcorch/recipe"
)

func ExampleLoad() {
	r, err := recipe.Load("testdata/reference/ollama_monitored.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := r.Service
	fmt.Println(s.Name, s.Kind(), s.Program(), s.Args)
	fmt.Println(s.Container.Source(), "->", s.ImagePath())
	fmt.Println(s.Resources.Time, s.Resources.Partition, s.Resources.Gres, s.Resources.MemArg())
	fmt.Println("cAdvisor:", s.EnableCAdvisor, s.CAdvisorPortOrDefault(), "ports:", s.Ports)
	// Output:
	// ollama container ollama [serve]
	// docker://ollama/ollama:latest -> $HOME/containers/ollama_latest.sif
	// 02:00:00 gpu gpu:1 16G
	// cAdvisor: true 8080 ports: [11434]
}

func ExampleDecode() {
	const doc = `
service:
  name: prometheus
  monitoring_targets:
    - service_id: "ollama_abc123"
      job_name: "ollama-cadvisor"
      port: 8080
  environment:
    PROMETHEUS_RETENTION_TIME: "30d"
  ports:
    - 9090
`
	r, err := recipe.Decode(strings.NewReader(doc), "prometheus.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := r.Service
	fmt.Println(s.IsMonitor(), s.Kind(), s.Program(), s.RetentionTime(),
		s.ScrapeIntervalOrDefault())
	for _, t := range s.MonitoringTargets {
		fmt.Println(t.Job(), t.ServiceID, t.PortOrDefault())
	}
	// Output:
	// true bare prometheus 30d 15s
	// ollama-cadvisor ollama_abc123 8080
}

// Every problem of a file is reported at once, each with its position and
// path.
func ExampleFieldError() {
	const doc = `service:
  name: ollama
  enable_cadvsior: true
  resources:
    time: 3600
    partition: no
  ports:
    - 08080
`
	_, err := recipe.Decode(strings.NewReader(doc), "ollama.yaml")
	for _, fe := range recipe.FieldErrors(err) {
		fmt.Printf("%d:%d %s\n", fe.Line, fe.Column, fe.Path)
	}
	fmt.Println(errors.Is(err, recipe.ErrUnknownKey))
	fmt.Println(recipe.FieldErrors(err)[0])
	// Output:
	// 3:3 service.enable_cadvsior
	// 5:11 service.resources.time
	// 6:16 service.resources.partition
	// 8:7 service.ports[0]
	// true
	// recipe: ollama.yaml:3:3: service.enable_cadvsior: unknown key "enable_cadvsior"; did you mean "enable_cadvisor"?
}

func ExampleRecipe_Validate() {
	r := &recipe.Recipe{Service: recipe.Service{
		Name:    "redis",
		Command: "redis-server --port 6379",
		Resources: recipe.Resources{
			Time: "1:30",
			Mem:  "1.5G",
		},
	}}
	fmt.Println(r.Validate())
	// Output:
	// recipe: service.command: command "redis-server --port 6379" holds spaces; put the program in command and each argument in args
	// recipe: service.resources.mem: memory "1.5G" is not in SLURM's form: a whole number with an optional K, M, G or T suffix, such as 500M or 16G (SLURM takes whole numbers: write 1536M, not 1.5G)
}

func ExampleConfig_Apply() {
	const doc = `
hpc:
  hostname: login.cluster.example
  username: user1
  port: 8822
slurm:
  account: p200000
  partition: cpu
  time: "01:00:00"
`
	cfg, err := recipe.DecodeConfig(strings.NewReader(doc), "config.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := recipe.Service{Name: "ollama", Resources: recipe.Resources{Partition: "gpu"}}
	cfg.Apply(&s)
	fmt.Println(cfg.Executor, cfg.Scheduler)
	fmt.Println(s.Resources.Account, s.Resources.Partition, s.Resources.Time)
	// Output:
	// ssh slurm
	// p200000 gpu 01:00:00
}

func ExampleDefaultConfig() {
	cfg := recipe.DefaultConfig()
	fmt.Println(cfg.Executor, cfg.Scheduler, cfg.MetricsDir)
	// Output:
	// local local metrics
}
