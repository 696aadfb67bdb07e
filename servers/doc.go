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
// free there, else a free one, under a lock in the shared home so that two
// jobs starting on one node at once never pick the same port. The ports are
// exported as HPCORCH_PORT (the first), HPCORCH_PORT_0, HPCORCH_PORT_1, ...
// and written to status.env. A recipe that wants to move when its port is
// taken says so by using ${HPCORCH_PORT} in its command, arguments or
// environment; a recipe that hard-codes its port keeps it, busy or not.
//
// # Containers
//
// A recipe with a container runs under `apptainer exec` with --env for each
// environment entry, --bind for each bind mount and --nv when the job asks
// for GPUs. A missing image is built from docker_source into image_path on the
// compute node; nodes without registry access fail with a message in the job
// log. Build the image on a machine that can reach the registry instead
// (`apptainer build IMAGE docker://...`) and copy it to image_path, or pass it
// as a StartOptions file.
//
// # cAdvisor
//
// With enable_cadvisor, the job starts cAdvisor from $HOME/.local/bin/cadvisor
// before the service, on its own free port (8080 when free), with flags for
// nodes without Docker, and waits until it answers. The binary is installed
// once: InstallCAdvisor uploads CAdvisorSource.LocalPath over the Executor, or
// the job downloads CAdvisorSource.URL and checks its SHA-256.
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
