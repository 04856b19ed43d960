package fairq

import (
	"slices"
	"testing"
)

func TestQueueServesKeysInTurn(t *testing.T) {
	type op struct {
		remove bool
		key    string
		v      int
	}
	tests := []struct {
		name string
		ops  []op
		want []int
	}{
		{"empty", nil, nil},
		{"one key keeps its order", []op{{false, "a", 1}, {false, "a", 2}, {false, "a", 3}}, []int{1, 2, 3}},
		{"keys take turns", []op{{false, "a", 1}, {false, "a", 2}, {false, "a", 3}, {false, "b", 4}, {false, "c", 5}, {false, "b", 6}}, []int{1, 4, 5, 2, 6, 3}},
		{"removed item is skipped", []op{{false, "a", 1}, {false, "a", 2}, {false, "b", 3}, {true, "a", 1}}, []int{2, 3}},
		{"key left empty loses its turn", []op{{false, "a", 1}, {false, "b", 2}, {true, "a", 1}, {false, "a", 3}}, []int{2, 3}},
		{"removing an absent item changes nothing", []op{{false, "a", 1}, {true, "a", 9}, {true, "z", 1}}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Queue[int]
			for _, o := range tt.ops {
				if o.remove {
					q.Remove(o.key, o.v)
				} else {
					q.Push(o.key, o.v)
				}
			}
			var got []int
			for {
				v, ok := q.Pop()
				if !ok {
					break
				}
				got = append(got, v)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("popped %v, want %v", got, tt.want)
			}
			if !q.Empty() {
				t.Error("queue not empty after popping everything")
			}
		})
	}
}
