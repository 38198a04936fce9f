// tests/fuzz/gen_go_heap.go: writes a Go runtime heap profile (runtime/pprof's gzip'd
// pprof, with the Go runtime's own sample types and labels) for the fuzz seed corpus:
//
//	go run tests/fuzz/gen_go_heap.go OUT.pb.gz
//
// Standard library only, so it builds offline. Every allocation is recorded
// (MemProfileRate = 1); a few functions allocate, one keeps what it allocates.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

var kept [][]byte

//go:noinline
func leak(n int) {
	for i := 0; i < n; i++ {
		kept = append(kept, make([]byte, 4096))
	}
}

//go:noinline
func churn(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		b := make([]byte, 1024+i)
		s += len(b)
	}
	return s
}

func main() {
	runtime.MemProfileRate = 1
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen_go_heap OUT.pb.gz")
		os.Exit(2)
	}
	leak(16)
	churn(64)
	runtime.GC()
	f, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
