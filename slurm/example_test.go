package slurm_test

import (
	"fmt"
	"time"

	"github.com/hpcorch/hpcorch/slurm"
)

func ExampleRender() {
	script, err := slurm.Render(slurm.JobSpec{
		Name:      "web",
		Partition: "debug",
		Time:      150 * time.Minute,
		Mem:       "1G",
		Output:    "/scratch/logs/%x-%j.out",
		Env:       map[string]string{"GREETING": "it's here"},
		Script:    `echo "$GREETING from $SLURM_JOB_ID"`,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(script)
	// Output:
	// #!/bin/bash
	// #SBATCH --job-name=web
	// #SBATCH --partition=debug
	// #SBATCH --time=0-02:30:00
	// #SBATCH --mem=1G
	// #SBATCH --output=/scratch/logs/%x-%j.out
	// : end of batch directives
	// export GREETING='it'\''s here'
	// echo "$GREETING from $SLURM_JOB_ID"
}

func ExampleRender_refused() {
	_, err := slurm.Render(slurm.JobSpec{Account: "$PROJECT", Script: "true"})
	fmt.Println(err)
	// Output:
	// slurm: invalid job spec: Account="$PROJECT": sbatch does not expand $ in #SBATCH lines
}

func ExampleExpandHostlist() {
	hosts, err := slurm.ExpandHostlist("node[01-03,7],gpu1")
	fmt.Println(hosts, err)
	// Output:
	// [node01 node02 node03 node7 gpu1] <nil>
}

func ExampleParseState() {
	st, by, err := slurm.ParseState("CANCELLED by 1001")
	fmt.Println(st, by, st.Terminal(), st.Failed(), err)
	st, _, err = slurm.ParseState("OUT_OF_ME+")
	fmt.Println(st, err)
	// Output:
	// CANCELLED 1001 true false <nil>
	// UNKNOWN slurm: job state "OUT_OF_ME+": slurm: truncated field
}

func ExampleParseWalltime() {
	for _, s := range []string{"4:00", "2-12", "UNLIMITED"} {
		w, _ := slurm.ParseWalltime(s)
		fmt.Println(s, "=", w.Duration, w.Unlimited)
	}
	fmt.Println(slurm.FormatDuration(150 * time.Minute))
	// Output:
	// 4:00 = 4m0s false
	// 2-12 = 60h0m0s false
	// UNLIMITED = 0s true
	// 0-02:30:00
}

func ExampleParseJobID() {
	r, _ := slurm.ParseJobID("2653343_[3-4%2]")
	fmt.Println(r.JobID, r.TaskSpec, r.MaxRunning)
	// Output:
	// 2653343 3-4 2
}
