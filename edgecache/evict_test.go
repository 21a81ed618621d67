package edgecache

import (
	"fmt"
	"testing"
)

func TestEvictorsKeepWithinBudget(t *testing.T) {
	for _, p := range []Policy{PolicyLRU, PolicyS3FIFO} {
		t.Run(string(p), func(t *testing.T) {
			ev, err := NewEvictor(p, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			live := map[string]int64{}
			for i := 0; i < 2000; i++ {
				key := fmt.Sprintf("k%d", i%300)
				if _, ok := live[key]; ok {
					ev.Hit(key)
					continue
				}
				size := int64(100 + (i*37)%900)
				live[key] = size
				for _, k := range ev.Add(key, size) {
					if k == key {
						t.Fatalf("evicted the key being added (%s) while others were held", key)
					}
					if _, ok := live[k]; !ok {
						t.Fatalf("evicted %s twice or never added", k)
					}
					delete(live, k)
				}
				var sum int64
				for _, s := range live {
					sum += s
				}
				if sum != ev.Bytes() || len(live) != ev.Len() {
					t.Fatalf("accounting: evictor %d bytes/%d entries, truth %d/%d", ev.Bytes(), ev.Len(), sum, len(live))
				}
				if ev.Bytes() > 10_000 {
					t.Fatalf("over budget: %d", ev.Bytes())
				}
			}
			ev.Remove("k1")
			ev.Remove("never")
			// An entry larger than the budget is evicted at once, alone.
			if got := ev.Add("huge", 20_000); len(got) == 0 || got[len(got)-1] != "huge" {
				t.Fatalf("huge entry: evicted %v", got)
			}
		})
	}
}

func TestS3FIFOKeepsHotKeysThroughAScan(t *testing.T) {
	ev := newS3FIFO(100)
	for i := 0; i < 10; i++ {
		ev.Add(fmt.Sprintf("hot%d", i), 5)
	}
	for r := 0; r < 3; r++ {
		for i := 0; i < 10; i++ {
			ev.Hit(fmt.Sprintf("hot%d", i))
		}
	}
	// A scan of one-hit wonders passes through the small queue.
	for i := 0; i < 1000; i++ {
		ev.Add(fmt.Sprintf("scan%d", i), 5)
		for j := 0; j < 10; j++ {
			if i%50 == 0 {
				ev.Hit(fmt.Sprintf("hot%d", j))
			}
		}
	}
	for i := 0; i < 10; i++ {
		if ev.nodes[fmt.Sprintf("hot%d", i)] == nil {
			t.Errorf("hot%d evicted by a scan", i)
		}
	}
}
