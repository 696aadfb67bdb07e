//go:build unix

package slurm

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// procID names one process across PID reuse: its pid and its start time
// in clock ticks since boot (0 when the system does not say).
type procID struct {
	pid   int
	start uint64
}

// selfProc identifies the calling process.
func selfProc() procID {
	pid := os.Getpid()
	st, _ := procStart(pid)
	return procID{pid: pid, start: st}
}

// procStart reads a process's start time from /proc/<pid>/stat (field 22).
func procStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, false
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, false // a zombie has ended
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}

// alive reports whether the process p still runs (and is the same process,
// where the start time is known).
func (p procID) alive() bool {
	if p.pid <= 0 {
		return false
	}
	if st, ok := procStart(p.pid); ok {
		return p.start == 0 || st == p.start
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		return false // /proc works, and the process is gone or a zombie
	}
	err := syscall.Kill(p.pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// groupAlive reports whether a live process (not a zombie) remains in
// process group pgid. It reads /proc where there is one, else asks kill,
// which also counts zombies.
func groupAlive(pgid int) bool {
	if pgid <= 0 {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		err := syscall.Kill(-pgid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // f[0] state, f[1] ppid, f[2] pgrp
		if len(f) > 2 && f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// signalGroup sends sig to process group pgid, ignoring a group that is
// gone.
func signalGroup(pgid int, sig syscall.Signal) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// setGroup makes cmd the leader of a new process group.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// exitOf converts a finished process's status to an ExitCode.
func exitOf(ps *os.ProcessState) ExitCode {
	if ps == nil {
		return ExitCode{Code: 1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ExitCode{Signal: int(ws.Signal())}
	}
	return ExitCode{Code: ps.ExitCode()}
}

// fileLock is an exclusive advisory lock on a file, across processes.
type fileLock struct{ f *os.File }

func lockFile(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileLock{f: f}, nil
}

func (l *fileLock) unlock() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
}
