// Command cadvisor is a small cAdvisor built against cAdvisor's Go library:
// the raw cgroup handler, Prometheus metrics on /metrics and a /healthz
// probe, without the web UI, Docker or storage drivers. It is what the
// throwaway cluster uploads to $HOME/.local/bin/cadvisor, since the
// upstream command is not served by the Go module proxy.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/cadvisor/cache/memory"
	"github.com/google/cadvisor/container"
	v2 "github.com/google/cadvisor/info/v2"
	"github.com/google/cadvisor/manager"
	"github.com/google/cadvisor/metrics"
	"github.com/google/cadvisor/utils/sysfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"
)

var (
	listenIP    = flag.String("listen_ip", "", "IP to listen on; all when empty")
	port        = flag.Int("port", 8080, "port to listen on")
	storeLabels = flag.Bool("store_container_labels", false,
		"turn container labels into metric labels")
	version = flag.Bool("version", false, "print the version and exit")
)

// disabled lists metric kinds left out unless -enable_metrics names them:
// the costly or, on HPC nodes, meaningless ones.
var disabled = container.MetricSet{
	container.MemoryNumaMetrics:              struct{}{},
	container.NetworkTcpUsageMetrics:         struct{}{},
	container.NetworkUdpUsageMetrics:         struct{}{},
	container.NetworkAdvancedTcpUsageMetrics: struct{}{},
	container.ProcessSchedulerMetrics:        struct{}{},
	container.ProcessMetrics:                 struct{}{},
	container.HugetlbUsageMetrics:            struct{}{},
	container.ReferencedMemoryMetrics:        struct{}{},
	container.CPUTopologyMetrics:             struct{}{},
	container.ResctrlMetrics:                 struct{}{},
	container.CPUSetMetrics:                  struct{}{},
	container.PerCpuUsageMetrics:             struct{}{},
}

var enabled = container.MetricSet{}

func init() {
	flag.Var(&disabled, "disable_metrics", "comma-separated metric kinds to disable")
	flag.Var(&enabled, "enable_metrics",
		"comma-separated metric kinds to enable; overrides -disable_metrics")
}

func main() {
	flag.Parse()
	if *version {
		fmt.Println("cAdvisor (hpcorch build of the v0.49.2 library)")
		return
	}

	included := container.AllMetrics.Difference(disabled)
	if len(enabled) > 0 {
		included = enabled
	}

	cache := memory.New(2*time.Minute, nil)
	m, err := manager.New(cache, sysfs.NewRealSysFs(), manager.HousekeepingConfigFlags,
		included, http.DefaultClient, []string{""}, nil, "", 0)
	if err != nil {
		log.Fatalf("cadvisor: create manager: %v", err)
	}

	labels := metrics.DefaultContainerLabels
	if !*storeLabels {
		labels = metrics.BaseContainerLabels(nil)
	}
	reg := prometheus.NewRegistry()
	opts := v2.RequestOptions{IdType: v2.TypeName, Count: 1, Recursive: true}
	reg.MustRegister(
		metrics.NewPrometheusCollector(m, labels, included, clock.RealClock{}, opts),
		metrics.NewPrometheusMachineCollector(m, included),
	)

	if err := m.Start(); err != nil {
		log.Fatalf("cadvisor: start manager: %v", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		m.Stop()
		os.Exit(0)
	}()

	addr := fmt.Sprintf("%s:%d", *listenIP, *port)
	log.Printf("cadvisor: listening on %s (metrics: %s)", addr, strings.TrimSpace(included.String()))
	log.Fatal(http.ListenAndServe(addr, mux))
}
