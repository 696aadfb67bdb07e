#!/bin/bash
#SBATCH --job-name=hpcorch-web-1
#SBATCH --comment="hpcorch:v1 service=web"
#SBATCH --partition=debug
#SBATCH --account=proj1
#SBATCH --qos=normal
#SBATCH --time=0-02:30:00
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=2
#SBATCH --mem=100M
#SBATCH --gres=gpu:1
#SBATCH --nodelist=node[1-2]
#SBATCH --output=/home/hpcuser/logs/%x-%j.out
#SBATCH --chdir="/home/hpcuser/run dir"
#SBATCH --exclusive
#SBATCH --signal=B:TERM@60
: end of batch directives
export A_LAST='a;b|c&d'
export EMPTY=''
export GREET='it'\''s "quoted" $HOME `x`'
export MULTI='line1
line2'
export PORT=18080
exec python3 -m http.server "$PORT"
