// The cookbook's parser, checked without services; queries_test.go (integration) runs every query on ClickHouse.

package schema_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const (
	cookbookFile     = "QUERIES.md"
	minCookbookQs    = 10
	mayBeEmptyMarker = "<!-- may be empty -->"
)

// cookbookQuery is one `##` section of the cookbook: a question and the one SQL block that answers it.
type cookbookQuery struct {
	Heading    string
	Line       int // of the heading, 1-based
	SQL        string
	MayBeEmpty bool
}

// parseCookbook splits the cookbook into its questions. Every `##` section must say in prose what it answers and hold
// exactly one ```sql block; an SQL block outside a section, an unclosed fence or a repeated heading is an error.
func parseCookbook(src string) ([]cookbookQuery, error) {
	var (
		out      []cookbookQuery
		cur      *cookbookQuery
		blocks   int  // sql blocks in the current section
		prose    bool // the current section has text besides its SQL and marker
		fence    = "" // the opening fence line while inside a code block
		isSQL    bool
		sql      []string
		fenceAt  int
		problems []string
		seen     = map[string]int{}
	)
	closeSection := func() {
		if cur == nil {
			return
		}
		switch {
		case blocks == 0:
			problems = append(problems, fmt.Sprintf("line %d: %q has no ```sql block", cur.Line, cur.Heading))
		case blocks > 1:
			problems = append(problems, fmt.Sprintf("line %d: %q has %d ```sql blocks, want one", cur.Line, cur.Heading, blocks))
		case !prose:
			problems = append(problems, fmt.Sprintf("line %d: %q does not say what it answers", cur.Line, cur.Heading))
		default:
			out = append(out, *cur)
		}
		cur = nil
	}
	for i, line := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if trimmed == "```" {
				if isSQL {
					q := strings.TrimSuffix(strings.TrimSpace(strings.Join(sql, "\n")), ";")
					switch {
					case cur == nil:
						problems = append(problems, fmt.Sprintf("line %d: ```sql block outside a ## section", fenceAt))
					case strings.TrimSpace(q) == "":
						problems = append(problems, fmt.Sprintf("line %d: empty ```sql block", fenceAt))
					default:
						blocks++
						cur.SQL = q
					}
				}
				fence, isSQL, sql = "", false, nil
				continue
			}
			if isSQL {
				sql = append(sql, line)
			}
			continue
		}
		switch {
		case strings.HasPrefix(trimmed, "```"):
			fence, fenceAt = trimmed, n
			isSQL = strings.TrimSpace(strings.TrimPrefix(trimmed, "```")) == "sql"
		case strings.HasPrefix(line, "## "):
			closeSection()
			h := strings.TrimSpace(strings.TrimPrefix(line, "## "))
			if first, dup := seen[h]; dup {
				problems = append(problems, fmt.Sprintf("line %d: heading %q repeats line %d", n, h, first))
			}
			seen[h] = n
			cur, blocks, prose = &cookbookQuery{Heading: h, Line: n}, 0, false
		case strings.HasPrefix(line, "# "):
			closeSection()
		case cur != nil && trimmed == mayBeEmptyMarker:
			cur.MayBeEmpty = true
		case cur != nil && trimmed != "":
			prose = true
		}
	}
	if fence != "" {
		problems = append(problems, fmt.Sprintf("line %d: code block never closed", fenceAt))
	}
	closeSection()
	if len(problems) > 0 {
		return out, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return out, nil
}

func TestParseCookbook(t *testing.T) {
	good := "# Title\n\nIntro with ```sql``` talk.\n\n" +
		"## First\n\nWhat it answers.\n\n```sql\nSELECT 1;\n```\n\n" +
		"## Second\n\n" + mayBeEmptyMarker + "\n\nMaybe nothing.\n\n```text\n## not a heading\n```\n\n```sql\nSELECT 2\nFROM gpumeter.x\n```\n"
	qs, err := parseCookbook(good)
	if err != nil {
		t.Fatal(err)
	}
	want := []cookbookQuery{
		{Heading: "First", Line: 5, SQL: "SELECT 1"},
		{Heading: "Second", Line: 13, SQL: "SELECT 2\nFROM gpumeter.x", MayBeEmpty: true},
	}
	if !reflect.DeepEqual(qs, want) {
		t.Fatalf("parseCookbook = %+v, want %+v", qs, want)
	}
	for name, bad := range map[string]string{
		"no sql":        "## A\n\nProse.\n",
		"two sql":       "## A\n\nProse.\n\n```sql\nSELECT 1\n```\n\n```sql\nSELECT 2\n```\n",
		"no prose":      "## A\n\n```sql\nSELECT 1\n```\n",
		"sql outside":   "# T\n\n```sql\nSELECT 1\n```\n",
		"unclosed":      "## A\n\nProse.\n\n```sql\nSELECT 1\n",
		"empty sql":     "## A\n\nProse.\n\n```sql\n\n```\n",
		"dup heading":   "## A\n\nP.\n\n```sql\nSELECT 1\n```\n## A\n\nP.\n\n```sql\nSELECT 1\n```\n",
		"marker no sql": "## A\n\n" + mayBeEmptyMarker + "\n\nP.\n",
	} {
		if _, err := parseCookbook(bad); err == nil {
			t.Errorf("%s: parseCookbook accepted %q", name, bad)
		}
	}
}
