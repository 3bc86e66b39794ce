package testserver

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Quotas, as the real server keeps them without zookeeper.enforceQuota:
// counting only. A client sets a quota on path by creating
// /zookeeper/quota<path>/zookeeper_limits (its creation enters path in the
// server's PathTrie) and /zookeeper/quota<path>/zookeeper_stats (its
// creation recounts the subtree at path into its data). From then on every
// create, delete and setData at or below path rewrites the stats node's
// data in place: no new version or mzxid, no watch event (DataTree's
// updateQuotaStat and updateQuotaForPath).
const (
	quotaLimitNode = "zookeeper_limits"
	quotaStatNode  = "zookeeper_stats"
)

// quotaComponents is PathTrie.split: the path's non-blank components.
func quotaComponents(path string) []string {
	var out []string
	for _, p := range strings.Split(path, "/") {
		if strings.TrimFunc(p, func(r rune) bool { return r <= ' ' }) != "" {
			out = append(out, p)
		}
	}
	return out
}

func quotaKey(path string) string { return "/" + strings.Join(quotaComponents(path), "/") }

// trimQuotaPath is Quotas.trimQuotaPath; ok is false where Java's substring
// would throw.
func trimQuotaPath(p string) (string, bool) {
	if len(p) < len(quotaPath) {
		return "", false
	}
	return p[len(quotaPath):], true
}

// maxQuotaPrefix is getMaxPrefixWithQuota: the deepest path at or above
// path with a quota, or "" for none.
func (s *Server) maxQuotaPrefix(path string) string {
	deepest, cur := "", ""
	for _, p := range quotaComponents(path) {
		cur += "/" + p
		if s.tree.quotas[cur] {
			deepest = cur
		}
	}
	return deepest
}

func (s *Server) setQuota(tx *txn, key string, on bool) {
	if s.tree.quotas[key] == on {
		return
	}
	set := func(v bool) {
		if v {
			s.tree.quotas[key] = true
		} else {
			delete(s.tree.quotas, key)
		}
	}
	set(on)
	tx.undo = append(tx.undo, func() { set(!on) })
}

// setStatsData rewrites a stats node's data, and nothing else of it.
func (s *Server) setStatsData(tx *txn, n *node, data []byte) {
	old := n.data
	n.data = data
	tx.undo = append(tx.undo, func() { n.data = old })
}

// quotaCreated follows DataTree.createNode: limits and stats nodes, then
// the count of the quota above the new node.
func (s *Server) quotaCreated(tx *txn, n *node) {
	parent := parentPath(n.path)
	if strings.HasPrefix(parent, quotaPath) {
		target, _ := trimQuotaPath(parent)
		if n.name == quotaLimitNode {
			s.setQuota(tx, quotaKey(target), true)
		}
		if n.name == quotaStatNode {
			// updateQuotaForPath: the subtree's nodes and bytes, the node
			// itself included; 0 and 0 if it does not exist.
			var count, bytes int64
			var walk func(*node)
			walk = func(m *node) {
				count++
				bytes += int64(len(m.data))
				for _, ch := range m.children {
					walk(ch)
				}
			}
			if m := s.tree.get(target); m != nil {
				walk(m)
			}
			s.setStatsData(tx, n, []byte(formatStats(map[string]int64{"count": count, "bytes": bytes})))
		}
	}
	s.updateQuotaStat(tx, n.path, int64(len(n.data)), 1)
}

// quotaDeleted follows DataTree.deleteNode.
func (s *Server) quotaDeleted(tx *txn, n *node) {
	parent := parentPath(n.path)
	if strings.HasPrefix(parent, zookeeperPath) && n.name == quotaLimitNode {
		if target, ok := trimQuotaPath(parent); ok {
			s.setQuota(tx, quotaKey(target), false)
		}
	}
	s.updateQuotaStat(tx, n.path, -int64(len(n.data)), -1)
}

// updateQuotaStat is DataTree.updateQuotaStat for a change at path.
func (s *Server) updateQuotaStat(tx *txn, path string, bytesDiff, countDiff int64) {
	prefix := s.maxQuotaPrefix(path)
	if prefix == "" {
		return
	}
	st := s.tree.get(quotaPath + prefix + "/" + quotaStatNode)
	if st == nil {
		return // the real server logs "Missing node for stat"
	}
	stats, ok := parseStats(string(st.data))
	if !ok {
		return // the real server fails the transaction's application here
	}
	stats["count"] = statValue(stats, "count") + countDiff
	stats["bytes"] = statValue(stats, "bytes") + bytesDiff
	s.setStatsData(tx, st, []byte(formatStats(stats)))
}

var statsPairSep = regexp.MustCompile(`[,;]+`)

// parseStats is new StatsTrack(String) for the input it accepts.
func parseStats(data string) (map[string]int64, bool) {
	stats := make(map[string]int64)
	if data == "" {
		return stats, true
	}
	for _, pair := range javaSplit(statsPairSep, data) {
		kv := strings.Split(pair, "=")
		for len(kv) > 0 && kv[len(kv)-1] == "" {
			kv = kv[:len(kv)-1] // String.split drops trailing empty strings
		}
		if len(kv) < 2 {
			return nil, false
		}
		v, err := strconv.ParseInt(kv[1], 10, 64)
		if err != nil {
			return nil, false
		}
		stats[kv[0]] = v
	}
	return stats, true
}

// javaSplit is Pattern.split: trailing empty strings dropped; a leading
// empty string kept unless the match at 0 is empty.
func javaSplit(re *regexp.Regexp, s string) []string {
	parts := re.Split(s, -1)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func statValue(stats map[string]int64, key string) int64 {
	if v, ok := stats[key]; ok {
		return v
	}
	return -1
}

// formatStats is StatsTrack.toString: count and bytes first, then "=" and
// the other keys sorted, each as ";key=value".
func formatStats(stats map[string]int64) string {
	var b strings.Builder
	b.WriteString("count=" + strconv.FormatInt(statValue(stats, "count"), 10))
	b.WriteString(",bytes=" + strconv.FormatInt(statValue(stats, "bytes"), 10))
	var keys []string
	for k := range stats {
		if k != "count" && k != "bytes" {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		b.WriteString("=")
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString(";" + k + "=" + strconv.FormatInt(stats[k], 10))
		}
	}
	return b.String()
}
