package gcpace

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mi = 1 << 20
	for _, tc := range []struct {
		name         string
		live, target uint64
		want         int
	}{
		{"nothing measured yet", 0, 200 * mi, MinPercent},
		{"small heap: at most MaxPercent", 10 * mi, 200 * mi, MaxPercent},
		{"grows to the target", 80 * mi, 200 * mi, 150},
		{"half the target: Go's default", 100 * mi, 200 * mi, 100},
		{"near the target: never below Go's default", 150 * mi, 200 * mi, MinPercent},
		{"past the target", 300 * mi, 200 * mi, MinPercent},
	} {
		if got := Percent(tc.live, tc.target); got != tc.want {
			t.Errorf("%s: Percent(%d MiB, %d MiB) = %d, want %d", tc.name, tc.live/mi, tc.target/mi, got, tc.want)
		}
	}
}

// runtimeGOGC is the GOGC the runtime paces by now.
func runtimeGOGC(t *testing.T) int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("runtime/metrics has no %s", s[0].Name)
	}
	return int(s[0].Value.Uint64())
}

// collectUntil collects until the pacer has chosen want: its choice follows
// the collection, in the runtime's cleanup goroutine.
func collectUntil(t *testing.T, p *Pacer, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.GCPercent() != want {
		if time.Now().After(deadline) {
			t.Fatalf("after collections for 10 s the pacer chose GOGC %d, want %d", p.GCPercent(), want)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if got := runtimeGOGC(t); got != want {
		t.Fatalf("the pacer chose %d, the runtime paces by %d", want, got)
	}
}

var held [][]byte

func TestPacerFollowsTheLiveHeap(t *testing.T) {
	before := runtimeGOGC(t)
	p := Start(64 << 20)
	collectUntil(t, p, MaxPercent)

	// 48 MiB live of a 64 MiB target leaves 33%: Go's default, not less.
	for range 48 {
		held = append(held, make([]byte, 1<<20))
	}
	collectUntil(t, p, MinPercent)

	held = nil
	collectUntil(t, p, MaxPercent)

	p.Stop()
	runtime.GC()
	runtime.GC()
	if got := runtimeGOGC(t); got != before {
		t.Errorf("after Stop the runtime paces by GOGC %d, want %d as before Start", got, before)
	}
}
