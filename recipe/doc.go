// Package recipe reads the two kinds of YAML file hpcorch users write:
// service recipes, which describe a program to run as a SLURM job (and,
// for Prometheus monitors, what to scrape), and the cluster config, which
// says how to reach the cluster and which defaults every job gets.
//
// The formats are those of the reference tool hpcorch replaces, so its
// recipes load unchanged:
//
//	service:
//	  name: ollama
//	  command: ollama
//	  args: ["serve"]
//	  enable_cadvisor: true
//	  container:
//	    docker_source: "docker://ollama/ollama:latest"
//	    image_path: "$HOME/containers/ollama_latest.sif"
//	  resources:
//	    time: "02:00:00"
//	    partition: gpu
//	    gres: "gpu:1"
//	    mem: "16GB"
//	  environment:
//	    OLLAMA_HOST: "0.0.0.0:11434"
//	  ports:
//	    - 11434
//
// # Usage
//
//	cfg, err := recipe.LoadConfig("config.yaml") // "" for no file: local mode
//	...
//	r, err := recipe.Load("recipes/services/ollama.yaml")
//	if err != nil {
//		for _, fe := range recipe.FieldErrors(err) {
//			fmt.Println(fe) // recipe: ollama.yaml:7:3: service.enable_cadvsior: ...
//		}
//	}
//	cfg.Apply(&r.Service) // the config's slurm defaults fill what the recipe left out
//
// The catalog of ready recipes is embedded in package
// github.com/hpcorch/hpcorch/recipes.
//
// # Strictness
//
// Files are decoded with gopkg.in/yaml.v3 into a node tree that this
// package walks itself, so that it can say more than yaml.v3 does:
//
//   - An unknown key is an error that suggests the key meant
//     (enable_cadvsior: did you mean "enable_cadvisor"?) or where the key
//     belongs (time belongs under service.resources). Keys that start with
//     "x-" are ignored anywhere: they are the place for your own notes.
//   - A key given twice in one mapping is an error.
//   - Every problem in a file is reported at once: Load, Decode, Validate
//     and their config counterparts return errors.Join of *FieldError
//     values, each with the file, line, column and dotted path
//     ("service.resources.time"). FieldErrors gets them back; errors.Is
//     with ErrUnknownKey, ErrDuplicateKey, ErrType, ErrInvalid, ErrMissing
//     or ErrSyntax tells their kinds apart.
//   - YAML 1.1 traps are caught where they bite: a walltime written as a
//     number (time: 3600, which SLURM reads as minutes) or as an unquoted
//     MM:SS (time: 1:30, a sexagesimal number to YAML 1.1 tools); numbers
//     with leading zeros (port: 08080, which YAML reads as octal); yes, no,
//     on and off where a string or a boolean is meant. Environment values
//     and arguments keep their text exactly (DEBUG: no stays "no").
//   - Values are checked in SLURM's forms: walltimes as sbatch takes them
//     ("01:00:00", "1-00:00:00", "30"), memory as 500, 100M, 4G or 16GB,
//     ports in 1..65535, and no $ or <placeholder> in what goes to #SBATCH
//     lines.
//   - An unquoted value starting with %, @ or ` (such as %x-%j.out) is a
//     YAML syntax error; the message says to quote it.
//
// # Variables and paths
//
// Recipes describe work on the cluster, so $HOME, $USER and ~ in a recipe
// are never expanded on the machine running hpcorch: they are kept as
// written and expanded by the job's shell on the compute node. Any other
// $NAME or ${NAME} in a command, argument, environment value or path is
// likewise left for the job's shell, where SLURM's variables
// ($SLURM_JOB_ID, $SLURM_CPUS_PER_TASK) and the exported environment are
// set. Command substitution ($(...) and backquotes) is rejected. Paths in
// the cluster config, by contrast, are local: ~ and $HOME there mean this
// machine's home folder.
//
// # Security
//
// A config may hold an SSH password (hpc.password); it is a Secret, which
// fmt never prints, and no error message of this package quotes it.
// Prefer keys. Host keys are always checked; hpc.known_hosts names the
// file, and hpc.host_key_policy (strict or accept-new) says whether a host
// seen for the first time is trusted. No setting turns checks off.
//
// # Stability
//
// The YAML formats are kept compatible with the reference tool's. The Go
// API may still change before hpcorch 1.0.
package recipe
