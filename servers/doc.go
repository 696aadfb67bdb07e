// Package servers runs service recipes as SLURM batch jobs and finds them
// again: started, listed, checked for readiness, read from and stopped, from
// this process or any later one.
//
// # Identity
//
// A service's ID is its recipe's name, an underscore and 8 hex digits
// ("redis_1a2b3c4d"). It is the SLURM job name, and the job's comment tags it
// as hpcorch's ("hpcorch:service:<session>", or "hpcorch:monitor:<session>"
// for a Prometheus monitor started by package monitors), so SLURM itself is
// the record of what runs: a new process, or another machine, lists and stops
// services it did not start. Every method that takes an ID also takes the
// numeric job id.
//
// Each service has a run folder on the cluster, $HOME/.hpcorch/run/<id> by
// default, shared by the login node and the compute nodes. It holds the
// job's output (job.out), the files the caller gave, a small description
// written at start (service.json), and status.env, which the job script
// writes as it goes: the node, the ports it bound, cAdvisor's port and the
// job's cgroup.
//
// # Usage
//
//	srv := servers.New(exec, slurm.New(exec, slurm.Options{}), servers.Options{})
//	r, _ := recipe.Load("recipes/services/redis.yaml")
//	svc, err := srv.StartService(ctx, r)
//	...
//	rd, err := srv.WaitReady(ctx, svc.ID) // pending → running → port open → healthy
//	...
//	url, _ := srv.ServiceEndpoint(ctx, svc.ID) // http://node2:6379
//	_ = srv.StopService(ctx, svc.ID)
//
// # Ports
//
// The job script picks the ports on the node: the recipe's port when it is
// free there, else a free one above it, under a lock in the run root
// (RunRoot/.ports/<node>) so that two jobs starting on one node at once never
// pick the same port; a port is reserved until its job ends. The ports are
// written to status.env, which the SDK reads, so Service.Port is the port
// actually bound. A recipe lets its port move by using ${HPCORCH_PORT} (or
// ${HPCORCH_PORT_<i>} for its i-th port) in its command, arguments or
// environment; a recipe that hard-codes its port keeps it, busy or not
// (WaitReady then reports ErrPortInUse from its log).
//
// Reservations are per user (they live in the user's run root): another
// user's job on the node is seen only once it listens. When one takes a
// port in the instant between this job's choice and its service's bind, and
// the service fails with something else listening on its main port, the job
// script runs again, up to three times in all, and chooses free ports anew;
// it needs every port of the recipe to be one it may move.
//
// The job exports, for the command and the recipe's values to use:
//
//	HPCORCH_ID            the service ID
//	HPCORCH_RUN_DIR       the run folder (where StartOptions.Files are)
//	HPCORCH_NODE          the node's name
//	HPCORCH_PORT          the main port; HPCORCH_PORT_0, _1, ... for each port
//	HPCORCH_CADVISOR_PORT cAdvisor's port, with enable_cadvisor
//
// # Containers
//
// A recipe with a container runs under `apptainer exec` (`apptainer run`
// when it names no command) with --env for each environment entry (values
// holding a comma or a quote go as APPTAINERENV_ variables, which --env
// cannot carry), --bind for each bind mount and --nv when the job asks for
// GPUs. APPTAINER_TMPDIR is a folder of the run folder, removed when the job
// ends. A missing image is built from docker_source into image_path on the
// compute node; when the node cannot reach the registry, the job fails with
// a line in its log saying so. Compute nodes often cannot: build the image
// where the registry is reachable (`apptainer build image.sif
// docker://...`) and copy it to image_path with UploadImage, or build it on
// the login node with BuildImage, before starting the service (the CLI's
// --upload-image and --build-image).
//
// # cAdvisor
//
// With enable_cadvisor, the job starts cAdvisor (CAdvisorSource.Path,
// $HOME/.local/bin/cadvisor by default) before the service, on a port chosen
// like the service's (cadvisor_port, 8080 by default, when free), with
// -listen_ip=0.0.0.0 -housekeeping_interval=10s -docker_only=false
// -store_container_labels=false, which suit nodes without Docker (raw
// cgroups), and -disable_metrics for the kinds that cost housekeeping time
// and feed no report (per-CPU, scheduler, TCP/UDP, hugetlb, perf events and
// the like; filesystem usage stays). It waits until /healthz or /metrics
// answers and records its port.
// The binary is installed once per cluster: InstallCAdvisor uploads
// CAdvisorSource.LocalPath over the Executor (Start calls it), or the job
// downloads CAdvisorSource.URL and checks its SHA-256. Service.CgroupID names
// the job's cgroup as cAdvisor labels it (id="/slurm_node2/uid_2001/job_42"
// on SLURM with cgroup v1), to select the service's own series.
//
// # Security
//
// Every value that reaches the batch script is quoted with sshx.Quote.
// Recipe values keep $NAME, ${NAME} and a leading ~ for the job's shell,
// which expands them on the node; nothing is expanded on this machine.
//
// # Stability
//
// The API may change before hpcorch 1.0. The status.env and service.json
// formats carry a version number.
package servers
