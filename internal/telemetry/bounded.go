package telemetry

import (
	"hash/maphash"
	"slices"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

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

// popular admits a value into a bounded set only once minUsers distinct
// users sent it, so one user (or fewer than minUsers) cannot fill the set
// with names of their own. Candidates (values not yet admitted, each with
// the hashes of up to minUsers users) live in an LRU of maxCandidates:
// flooding it with names evicts candidates, never admitted values.
type popular struct {
	set        *bounded
	mu         sync.Mutex
	candidates *lru.Cache[string, []uint64]
	seed       maphash.Seed
}

const (
	minUsers      = 3
	maxCandidates = 4096
)

func newPopular(set *bounded) *popular {
	c, _ := lru.New[string, []uint64](maxCandidates) // only fails for a size <= 0
	return &popular{set: set, candidates: c, seed: maphash.MakeSeed()}
}

// value returns v when it is admitted (now or before), else Other. user
// is the caller's id; "" (unknown) never counts towards admission.
func (p *popular) value(v, user string) string {
	if v == "" || len(v) > maxLabelLen {
		return p.set.value(v)
	}
	p.set.mu.RLock()
	_, ok := p.set.seen[v]
	p.set.mu.RUnlock()
	if ok {
		return v
	}
	if user == "" {
		return Other
	}
	h := maphash.String(p.seed, user)
	p.mu.Lock()
	users, _ := p.candidates.Get(v)
	if !slices.Contains(users, h) {
		users = append(slices.Clip(users), h)
	}
	if len(users) < minUsers {
		p.candidates.Add(v, users)
		p.mu.Unlock()
		return Other
	}
	p.candidates.Remove(v)
	p.mu.Unlock()
	return p.set.value(v)
}
