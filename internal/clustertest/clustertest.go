// Package clustertest gives integration tests the facts of the throwaway
// cluster that `make cluster-up` starts: where its login node listens, the
// user, key and known_hosts file to log in with, and its nodes.
//
// A test that needs the cluster calls Env(t). Without the environment file,
// the test fails (it never skips) with a message saying to run
// `make cluster-up`.
package clustertest

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// DefaultEnvFile is where `make cluster-up` writes the environment file.
// HPCORCH_CLUSTER_ENV overrides it.
const DefaultEnvFile = "/opt/hpcorch-cluster/cluster.env"

// Cluster holds the facts of the running throwaway cluster.
type Cluster struct {
	Base          string   // the cluster's base folder on this machine
	SSHHost       string   // login node address, 127.0.0.1
	SSHPort       int      // login node sshd port
	SSHNoFwdPort  int      // a second sshd with TCP forwarding off
	User          string   // the ordinary user jobs run as
	KeyFile       string   // the user's private key (ed25519, no passphrase)
	KnownHosts    string   // known_hosts with the login node's host key
	SSHConfig     string   // an ssh_config with Host alias "minicluster"
	Nodes         []string // compute node names, node1..node3
	NodeAddrs     map[string]string
	Partition     string // the default partition
	GPUPartition  string // the partition of the node with fake GPUs
	GPUNode       string
	Home          string // the user's home folder, shared by all nodes
	CAdvisorBin   string // a cAdvisor binary on this machine, to upload
	PrometheusBin string // the Prometheus binary every node can run
	TestImage     string // an Apptainer image (SIF) in the user's home
	SlurmConf     string
	Vars          map[string]string // every variable of the file
}

// Env reads the environment file, failing t when it is missing.
func Env(t testing.TB) *Cluster {
	t.Helper()
	c, err := Load()
	if err != nil {
		t.Fatalf("clustertest: %v: run `make cluster-up` first", err)
	}
	return c
}

// Load reads the environment file without a testing.TB.
func Load() (*Cluster, error) {
	path := os.Getenv("HPCORCH_CLUSTER_ENV")
	if path == "" {
		path = DefaultEnvFile
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		vars[k] = strings.Trim(v, `'"`)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}

	c := &Cluster{
		Base:          vars["HPCORCH_BASE"],
		SSHHost:       vars["HPCORCH_SSH_HOST"],
		SSHPort:       atoi(vars["HPCORCH_SSH_PORT"]),
		SSHNoFwdPort:  atoi(vars["HPCORCH_SSH_NOFWD_PORT"]),
		User:          vars["HPCORCH_SSH_USER"],
		KeyFile:       vars["HPCORCH_SSH_KEY"],
		KnownHosts:    vars["HPCORCH_KNOWN_HOSTS"],
		SSHConfig:     vars["HPCORCH_SSH_CONFIG"],
		Nodes:         splitList(vars["HPCORCH_NODES"]),
		NodeAddrs:     map[string]string{},
		Partition:     vars["HPCORCH_PARTITION"],
		GPUPartition:  vars["HPCORCH_GPU_PARTITION"],
		GPUNode:       vars["HPCORCH_GPU_NODE"],
		Home:          vars["HPCORCH_HOME"],
		CAdvisorBin:   vars["HPCORCH_CADVISOR_BIN"],
		PrometheusBin: vars["HPCORCH_PROMETHEUS_BIN"],
		TestImage:     vars["HPCORCH_TEST_IMAGE"],
		SlurmConf:     vars["SLURM_CONF"],
		Vars:          vars,
	}
	for _, kv := range splitList(vars["HPCORCH_NODE_ADDRS"]) {
		if n, a, ok := strings.Cut(kv, "="); ok {
			c.NodeAddrs[n] = a
		}
	}
	return c, nil
}

// Addr returns the login node's address as host:port.
func (c *Cluster) Addr() string {
	return c.SSHHost + ":" + itoa(c.SSHPort)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
