#!/bin/bash
#SBATCH --job-name=svc
: end of batch directives
echo hi
