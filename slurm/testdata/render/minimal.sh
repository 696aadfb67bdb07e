#!/bin/bash
: end of batch directives
hostname
