// Package spelling finds the closest of a set of known words to a misspelt one, for errors and warnings that
// suggest what was meant ("azur": did you mean azure?).
package spelling

// Closest returns the candidate nearest to word by edit distance (insertions, deletions, substitutions and swaps
// of neighbours, Damerau–Levenshtein), and false when even the nearest is too far to be a typo of it: more than a
// third of word's length, and at least 1, 2 for words of 6 letters or more.
func Closest(word string, candidates []string) (string, bool) {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := distance(word, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(1, len(word)/3)
	if len(word) >= 6 {
		limit = max(limit, 2)
	}
	return best, bestD >= 0 && bestD <= limit
}

// distance is the optimal string alignment distance between a and b, by bytes.
func distance(a, b string) int {
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
