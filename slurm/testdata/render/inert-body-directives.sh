#!/bin/bash
#SBATCH --job-name=x
: end of batch directives
#SBATCH --partition=$EVIL
srun hostname
