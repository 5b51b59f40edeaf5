// Command gen writes the Go profile fixtures used by heapwise-pprof's tests:
// ../go_heap.pb.gz (a heap profile) and ../go_cpu.pb.gz (a CPU profile).
//
// It uses only the standard library. Regenerate with:
//
//	cd crates/heapwise-pprof/testdata/gen && GOTOOLCHAIN=local GOPROXY=off go run main.go
package main

import (
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

var sink [][]byte

//go:noinline
func allocSmall(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink, make([]byte, 64))
	}
}

//go:noinline
func allocLarge(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink, make([]byte, 64<<10))
	}
}

//go:noinline
func spin(d time.Duration) uint64 {
	var x uint64 = 1
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for i := 0; i < 10000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

func writeHeap(path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		log.Fatal(err)
	}
}

func writeCPU(path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	x := spin(200 * time.Millisecond)
	pprof.StopCPUProfile()
	if x == 42 {
		log.Print("unlikely")
	}
}

func main() {
	runtime.MemProfileRate = 1
	allocSmall(1000)
	allocLarge(16)
	writeHeap("../go_heap.pb.gz")
	writeCPU("../go_cpu.pb.gz")
	runtime.KeepAlive(sink)
}
