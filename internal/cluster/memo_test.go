package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// namespaceCounter answers Namespace and counts the questions per name;
// "broken" fails.
type namespaceCounter struct {
	State
	mu    sync.Mutex
	asked map[string]int
}

func (c *namespaceCounter) Namespace(_ context.Context, name string) (*corev1.Namespace, error) {
	c.mu.Lock()
	c.asked[name]++
	c.mu.Unlock()
	if name == "broken" {
		return nil, errors.New("broken")
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, nil
}

// The memo asks once per question, past the answers it keeps in its array,
// errors included, and every asker gets the same answer.
func TestMemoAsksOncePerQuestion(t *testing.T) {
	ctx := context.Background()
	c := &namespaceCounter{asked: map[string]int{}}
	m := Memo(c)
	names := []string{"broken"}
	for i := range 9 {
		names = append(names, fmt.Sprintf("ns-%d", i))
	}
	first := map[string]*corev1.Namespace{}
	for round := range 3 {
		for _, n := range names {
			got, err := m.Namespace(ctx, n)
			if n == "broken" {
				if err == nil || got != nil {
					t.Fatalf("round %d: Namespace(broken) = %v, %v; want the error", round, got, err)
				}
				continue
			}
			if err != nil || got == nil || got.Name != n {
				t.Fatalf("round %d: Namespace(%s) = %v, %v", round, n, got, err)
			}
			if round == 0 {
				first[n] = got
			} else if got != first[n] {
				t.Errorf("round %d: Namespace(%s) is another answer than the first", round, n)
			}
		}
	}
	for _, n := range names {
		if c.asked[n] != 1 {
			t.Errorf("Namespace(%s) asked %d times, want 1", n, c.asked[n])
		}
	}

	// Concurrent askers of one question all get the answer kept first.
	m = Memo(&namespaceCounter{asked: map[string]int{}})
	var wg sync.WaitGroup
	got := make([]*corev1.Namespace, 8)
	for i := range got {
		wg.Go(func() { got[i], _ = m.Namespace(ctx, "shared") })
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("asker %d got another answer than asker 0", i)
		}
	}
}
