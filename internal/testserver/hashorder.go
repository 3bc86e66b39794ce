package testserver

import (
	"slices"
	"unicode/utf16"
)

// jset is a set of names that lists them in the order in which a
// java.util.HashSet<String> holding them would iterate. The real server
// keeps a node's children and a session's ephemeral paths in HashSets, and
// answers getChildren, getEphemerals and the deletes of a closing session
// in that order: an application that forgets to sort children must meet the
// same unsorted order here, not a sorted one that hides its bug.
//
// The order follows from how a Java HashMap lays out its entries (a fact of
// OpenJDK 8 to 25):
//   - the table has a power-of-two number of buckets, and a name goes to
//     bucket (h ^ h>>>16) & (buckets-1), h being String.hashCode;
//   - the table doubles when the size passes the threshold (3/4 of the
//     buckets), and also when an insertion leaves more than eight entries
//     in one bucket while the table has fewer than 64 buckets; it never
//     shrinks;
//   - within a bucket entries are kept in insertion order, and a doubling
//     splits each bucket in two keeping that order;
//   - iteration goes bucket by bucket.
//
// So the order is by bucket under the current table size, then by when
// each name was added. One layout is not modelled: a bucket of a table of
// 64 or more buckets that gets more than eight entries becomes a tree,
// whose order differs. That takes names whose hash codes collide on
// purpose; ordinary names never come close.
type jset struct {
	seq     map[string]uint64 // when each member was added
	hash    map[string]int32  // its spread hash code
	added   uint64
	buckets int // the table's size; 0 before the first add
	thresh  int // before the first add: the table size to start with (0: 16)
}

// newJSet is new HashSet<String>(initialCapacity), or new HashSet<String>()
// when initialCapacity is 0.
func newJSet(initialCapacity int) *jset {
	s := &jset{seq: make(map[string]uint64), hash: make(map[string]int32)}
	if initialCapacity > 0 {
		s.thresh = powerOfTwoAtLeast(initialCapacity)
	}
	return s
}

func powerOfTwoAtLeast(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// spreadHash is String.hashCode (over UTF-16 code units) with its high half
// folded into the low one, as HashMap does before picking a bucket.
func spreadHash(name string) int32 {
	var h int32
	for _, r := range name {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h ^ int32(uint32(h)>>16)
}

func (s *jset) len() int { return len(s.seq) }

func (s *jset) contains(name string) bool { _, ok := s.seq[name]; return ok }

func (s *jset) bucket(name string) int { return int(s.hash[name]) & (s.buckets - 1) }

// grow doubles the table, or makes the first one.
func (s *jset) grow() {
	switch {
	case s.buckets == 0 && s.thresh > 0:
		s.buckets = s.thresh
		s.thresh = s.buckets * 3 / 4
	case s.buckets == 0:
		s.buckets, s.thresh = 16, 12
	case s.buckets >= 16:
		s.buckets *= 2
		s.thresh *= 2
	default:
		s.buckets *= 2
		s.thresh = s.buckets * 3 / 4
	}
}

// add adds name, reporting whether it was new.
func (s *jset) add(name string) bool {
	if s.contains(name) {
		return false
	}
	if s.buckets == 0 {
		s.grow()
	}
	s.added++
	s.seq[name] = s.added
	s.hash[name] = spreadHash(name)
	if s.buckets < 64 {
		b, n := s.bucket(name), 0
		for m := range s.seq {
			if s.bucket(m) == b {
				n++
			}
		}
		if n > 8 {
			s.grow()
		}
	}
	if len(s.seq) > s.thresh {
		s.grow()
	}
	return true
}

// remove removes name, reporting whether it was there.
func (s *jset) remove(name string) bool {
	if !s.contains(name) {
		return false
	}
	delete(s.seq, name)
	delete(s.hash, name)
	return true
}

// keys lists the members in iteration order.
func (s *jset) keys() []string {
	out := make([]string, 0, len(s.seq))
	for m := range s.seq {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b string) int {
		if ba, bb := s.bucket(a), s.bucket(b); ba != bb {
			return ba - bb
		}
		return int(s.seq[a]) - int(s.seq[b])
	})
	return out
}

// cloneJDK17 is HashSet.clone as the JDK 17 that Debian's ZooKeeper runs on
// does it: a new table sized for the members (the smallest power of two
// not below size/0.75+1, in float32 arithmetic), filled in this set's
// iteration order. (JDK 19 and later size it from ceil(size/0.75), which
// can be one doubling smaller and list in another order.)
func (s *jset) cloneJDK17() *jset {
	out := newJSet(0)
	if n := len(s.seq); n > 0 {
		out.thresh = powerOfTwoAtLeast(int(float32(n)/float32(0.75) + 1))
	}
	for _, m := range s.keys() {
		out.add(m)
	}
	return out
}

// copy is an exact copy, which lists and changes as s does: what a failed
// multi restores.
func (s *jset) copy() *jset {
	c := *s
	c.seq = make(map[string]uint64, len(s.seq))
	c.hash = make(map[string]int32, len(s.hash))
	for m, v := range s.seq {
		c.seq[m] = v
		c.hash[m] = s.hash[m]
	}
	return &c
}
