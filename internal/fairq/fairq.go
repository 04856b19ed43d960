// Package fairq is a queue of items per key that serves keys in turn
// (round robin): the next item is the oldest of the key whose turn it is,
// and that key then goes to the back of the line. A key with many items
// queued waits behind every other key's next one.
package fairq

// Queue holds items per key, oldest first. The zero value is empty and
// ready to use. It is not safe for concurrent use: callers hold their own
// lock.
type Queue[T comparable] struct {
	order []string       // keys with items, in turn order
	byKey map[string][]T // key -> its items, oldest first
}

// Push queues v behind key's other items; a key new to the queue takes
// the last turn.
func (q *Queue[T]) Push(key string, v T) {
	if q.byKey == nil {
		q.byKey = map[string][]T{}
	}
	if len(q.byKey[key]) == 0 {
		q.order = append(q.order, key)
	}
	q.byKey[key] = append(q.byKey[key], v)
}

// Pop returns the oldest item of the key whose turn it is and sends that
// key to the back of the line; false when the queue is empty.
func (q *Queue[T]) Pop() (T, bool) {
	if len(q.order) == 0 {
		var zero T
		return zero, false
	}
	key := q.order[0]
	q.order = q.order[1:]
	vs := q.byKey[key]
	v := vs[0]
	if len(vs) == 1 {
		delete(q.byKey, key)
	} else {
		q.byKey[key] = vs[1:]
		q.order = append(q.order, key)
	}
	return v, true
}

// Remove takes v out of key's items (a waiter that left); a key left
// without items loses its turn.
func (q *Queue[T]) Remove(key string, v T) {
	vs := q.byKey[key]
	for i, x := range vs {
		if x == v {
			vs = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	if len(vs) > 0 {
		q.byKey[key] = vs
		return
	}
	delete(q.byKey, key)
	for i, k := range q.order {
		if k == key {
			q.order = append(q.order[:i:i], q.order[i+1:]...)
			break
		}
	}
}

// Empty reports whether no item is queued.
func (q *Queue[T]) Empty() bool { return len(q.order) == 0 }
