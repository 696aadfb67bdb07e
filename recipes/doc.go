// Package recipes is hpcorch's catalog of ready service recipes, embedded
// in the binary so that hpcorch can list and start them without a copy of
// the repository.
//
// The catalog holds recipes written for a real cluster (ollama, redis,
// chroma and prometheus, each also "_with_cadvisor"; Apptainer images
// built from docker:// sources into $HOME/containers, a GPU for ollama)
// and recipes that run on the project's throwaway cluster, which reaches
// no registry (mini_http_bare, mini_http_container, mini_prometheus).
//
//	for _, name := range recipes.List() {
//		r, err := recipes.Load(name)
//		...
//	}
//
// The files are plain recipes in the format package
// github.com/hpcorch/hpcorch/recipe reads; copy one out of FS (or from
// recipes/services in the repository) to change it.
package recipes
