package fifo

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/conctest"
)

func TestMain(m *testing.M) { conctest.VerifyTestMain(m) }

type item struct {
	Node[item]
	id int
}

func contents(q *List[item, *item]) []int {
	var ids []int
	for e := q.Front(); e != nil; e = e.Next() {
		ids = append(ids, e.id)
	}
	return ids
}

// Random pushes, pops and removals from the middle, checked against a
// slice after every step.
func TestModel(t *testing.T) {
	for seed := range 50 {
		rng := rand.New(rand.NewPCG(uint64(seed), 1))
		var q List[item, *item]
		var model []*item
		next := 0
		for range 300 {
			switch op := rng.IntN(3); {
			case op == 0 || len(model) == 0:
				e := &item{id: next}
				next++
				q.PushBack(e)
				model = append(model, e)
			case op == 1:
				if got := q.PopFront(); got != model[0] {
					t.Fatalf("seed %d: PopFront = %v, want %d", seed, got, model[0].id)
				}
				if model[0].Linked() {
					t.Fatalf("seed %d: popped element still linked", seed)
				}
				model = model[1:]
			default:
				i := rng.IntN(len(model))
				q.Remove(model[i])
				model = slices.Delete(model, i, i+1)
			}
			want := make([]int, len(model))
			for i, e := range model {
				want[i] = e.id
			}
			if got := contents(&q); !slices.Equal(got, want) || q.Len() != len(model) {
				t.Fatalf("seed %d: list %v (Len %d), want %v", seed, got, q.Len(), want)
			}
		}
	}
}

func TestEmpty(t *testing.T) {
	var q List[item, *item]
	if q.Front() != nil || q.PopFront() != nil || q.Len() != 0 {
		t.Fatal("zero List is not empty")
	}
}

func TestMisusePanics(t *testing.T) {
	check := func(want string, fn func()) {
		t.Helper()
		defer func() {
			r, _ := recover().(string)
			if !strings.HasPrefix(r, "fifo: ") || !strings.Contains(r, want) {
				t.Fatalf("panic %q, want one mentioning %q", r, want)
			}
		}()
		fn()
	}
	var q, other List[item, *item]
	e := &item{}
	q.PushBack(e)
	check("already in a list", func() { other.PushBack(e) })
	q.Remove(e)
	check("in no list", func() { q.Remove(e) })
}
