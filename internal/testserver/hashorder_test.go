package testserver

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestJSetCopy: a copy (what a failed multi restores) lists as the
// original does, and after the same changes still does, through doublings.
func TestJSetCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var names []string
	for i := range 120 {
		names = append(names, fmt.Sprintf("n-%d", i))
	}
	for round := range 200 {
		a := newJSet(8)
		for range rng.IntN(200) {
			n := names[rng.IntN(len(names))]
			if rng.IntN(3) == 0 {
				a.remove(n)
			} else {
				a.add(n)
			}
		}
		b := a.copy()
		if !slices.Equal(a.keys(), b.keys()) {
			t.Fatalf("round %d: copy lists %q, original %q", round, b.keys(), a.keys())
		}
		for range 100 {
			n := names[rng.IntN(len(names))]
			if rng.IntN(2) == 0 {
				if a.remove(n) != b.remove(n) {
					t.Fatalf("round %d: remove %s differs", round, n)
				}
			} else if a.add(n) != b.add(n) {
				t.Fatalf("round %d: add %s differs", round, n)
			}
		}
		if !slices.Equal(a.keys(), b.keys()) {
			t.Fatalf("round %d: after the same changes the copy lists %q, original %q", round, b.keys(), a.keys())
		}
		if a.len() != len(a.keys()) {
			t.Fatalf("round %d: size %d, %d listed", round, a.len(), len(a.keys()))
		}
	}
}

// TestJSetGrowth: the table sizes a Java HashSet goes through, from the
// default and from a small initial capacity, and the early doubling of a
// small table whose bucket gets a ninth entry.
func TestJSetGrowth(t *testing.T) {
	s := newJSet(0)
	var sizes []int
	for i := range 25 {
		s.add(fmt.Sprintf("k%d", i))
		sizes = append(sizes, s.buckets)
	}
	// 16 buckets up to 12 entries, 32 from the 13th, 64 from the 25th.
	want := slices.Repeat([]int{16}, 12)
	want = append(append(want, slices.Repeat([]int{32}, 12)...), 64)
	if !slices.Equal(sizes, want) {
		t.Fatalf("table sizes %v, want %v", sizes, want)
	}

	s = newJSet(8)
	for i := range 7 {
		s.add(fmt.Sprintf("k%d", i))
	}
	if s.buckets != 16 {
		t.Fatalf("a set made for 8 holds 7 in %d buckets, want 16", s.buckets)
	}

	// "Aa" and "BB" have one hash code, so the 2^4 words of four of them
	// all land in one bucket: the ninth doubles 16 to 32 buckets, the
	// tenth to 64, with the size far below the threshold.
	s = newJSet(0)
	for i := range 10 {
		w := ""
		for bit := range 4 {
			w += map[bool]string{false: "Aa", true: "BB"}[i&(1<<bit) != 0]
		}
		s.add(w)
		if want := map[bool]int{false: 16, true: 32}[i >= 8]; i < 9 && s.buckets != want {
			t.Fatalf("after %d colliding names: %d buckets, want %d", i+1, s.buckets, want)
		}
	}
	if s.buckets != 64 {
		t.Fatalf("after 10 colliding names: %d buckets, want 64", s.buckets)
	}
}
