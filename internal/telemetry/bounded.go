package telemetry

import "sync"

// Other is the label value of everything past a bounded set's capacity.
const Other = "other"

// bounded admits the first max distinct label values it sees and maps
// every later one to Other, so a label fed from request data has at most
// max+1 values. A value longer than maxLabelLen is always Other. It is
// safe for concurrent use.
type bounded struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

const maxLabelLen = 64

func newBounded(max int, preset ...string) *bounded {
	b := &bounded{max: max, seen: make(map[string]struct{}, max)}
	for _, v := range preset {
		b.seen[v] = struct{}{}
	}
	return b
}

// value returns v when it is (or now becomes) one of the admitted values,
// else Other.
func (b *bounded) value(v string) string {
	if v == "" || len(v) > maxLabelLen {
		if v == "" {
			return ""
		}
		return Other
	}
	b.mu.RLock()
	_, ok := b.seen[v]
	b.mu.RUnlock()
	if ok {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = struct{}{}
	return v
}
