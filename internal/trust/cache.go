package trust

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// entryOverhead approximates what one cache entry costs besides its key and
// values: the list element, the map slot, the entry struct and the pointers
// to what it holds.
const entryOverhead = 256

// sizedLRU is an expiring LRU bounded both in entries and in bytes: after
// each Add, the least recently used entries go until both bounds hold. A
// count bound alone lets few large entries take any amount of memory.
type sizedLRU[V any] struct {
	lru      *expirable.LRU[string, sized[V]]
	maxBytes int64
	bytes    atomic.Int64
	// mu keeps one Add's evictions from interleaving with another's.
	// Expiry runs on the LRU's own goroutine and only touches bytes.
	mu sync.Mutex
}

type sized[V any] struct {
	v    V
	size int64
}

func newSizedLRU[V any](entries int, maxBytes int64, ttl time.Duration) *sizedLRU[V] {
	c := &sizedLRU[V]{maxBytes: maxBytes}
	c.lru = expirable.NewLRU[string, sized[V]](entries, func(_ string, e sized[V]) { c.bytes.Add(-e.size) }, ttl)
	return c
}

// Add stores v under key; size is v's estimated size in bytes (the key and
// the entry overhead are added here). A value larger than the whole bound
// is not stored.
func (c *sizedLRU[V]) Add(key string, v V, size int64) {
	size += int64(len(key)) + entryOverhead
	c.mu.Lock()
	defer c.mu.Unlock()
	// Replacing a value is a remove and an add, so the evict callback
	// accounts for the old one.
	c.lru.Remove(key)
	if size > c.maxBytes {
		return
	}
	c.bytes.Add(size)
	c.lru.Add(key, sized[V]{v: v, size: size})
	for c.bytes.Load() > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

func (c *sizedLRU[V]) Get(key string) (V, bool) {
	e, ok := c.lru.Get(key)
	return e.v, ok
}

func (c *sizedLRU[V]) Peek(key string) (V, bool) {
	e, ok := c.lru.Peek(key)
	return e.v, ok
}

func (c *sizedLRU[V]) Remove(key string) { c.lru.Remove(key) }

// Len is the number of entries, Bytes their estimated size.
func (c *sizedLRU[V]) Len() int     { return c.lru.Len() }
func (c *sizedLRU[V]) Bytes() int64 { return c.bytes.Load() }
