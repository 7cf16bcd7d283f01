package commitment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gpumeter/gpumeter/internal/cloudprovider"
	"github.com/gpumeter/gpumeter/internal/spelling"
)

// Parse checks a commitments file's contents; name is what problems call the file. It reports every problem at
// once (see Load), and returns the file (commitments in the file's order, price cards) only when there is none.
func Parse(name string, data []byte) (File, error) {
	p := &parser{file: name, ids: map[string]int{}}
	f := p.parseFile(data)
	if root := rootMapping(data); root != nil {
		f.Primary, f.Requests = p.requests(root, f.Commitments)
	}
	if len(p.probs) > 0 {
		sort.SliceStable(p.probs, func(i, j int) bool { return p.probs[i].Line < p.probs[j].Line })
		return File{}, p.probs
	}
	return f, nil
}

var (
	idPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)
	providerPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	yamlLine        = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

var (
	// fileFields are the top-level keys; each has its reader in parseFile.
	fileFields       = []string{"currency", "prices", "commitments", "primary", "requests"}
	commitmentFields = []string{"id", "name", "provider", "scope", "kind", "quantity", "unit", "term", "team", "labels", "alerts", "rate_card", "priority", "price_per_gpu_hour"}
	priceFields      = []string{"provider", "instance_type", "gpu_model", "price_per_gpu_hour", "currency"}
	scopeFields      = []string{"account", "region", "instance_type", "gpu_model"}
	termFields       = []string{"start", "end"}
	alertFields      = []string{"projected_shortfall_pct", "min_utilization_pct", "max_leakage_gpu_hours_24h", "exhaustion_days"}
	rateFields       = []string{"instance_type", "gpu_model", "price_per_gpu_hour"}
)

type parser struct {
	file  string
	probs Problems
	ids   map[string]int // id -> index of the first commitment that has it
	lines []int          // line of each commitment's mapping
	// money is the currency of the first price read (a price card or a reservation's price) and where it was; every
	// other price must be in it, so money figures add up.
	money     string
	moneyLine int
}

// add records a problem at n's line. where names the commitment ("commitments[2] (id x)") or is empty for the
// file's top level; field is the path of the field inside it.
func (p *parser) add(n *yaml.Node, where, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	path := field
	if where != "" {
		path = where + ": " + field
	}
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) parseFile(data []byte) File {
	var f File
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(nil, "", "file", "empty: want a mapping with a commitments list")
		} else {
			p.syntax(err)
		}
		return f
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.add(&extra, "", "file", "a second YAML document: put every commitment in one commitments list")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
	}
	if len(doc.Content) == 0 {
		p.add(&doc, "", "file", "empty: want a mapping with a commitments list")
		return f
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.add(root, "", "file", "want a mapping with currency (optional) and a commitments list, got %s", describe(root))
		return f
	}
	top := p.mapping(root, "", "", fileFields)

	// currency: the default unit of spend commitments. bad says it was given but is wrong, so spend commitments
	// that rely on it are not blamed a second time.
	currency, currencyBad := "", false
	if n := top.get("currency"); n != nil {
		currency = p.str(n, "", "currency")
		if n.Kind != yaml.ScalarNode {
			currency, currencyBad = "", true
		} else if msg := currencyProblem(currency); msg != "" {
			p.add(n, "", "currency", "%s", msg)
			currency, currencyBad = "", true
		}
	}
	f.Currency = currency

	if n := top.get("prices"); n != nil {
		f.Prices = p.prices(n, currency, currencyBad)
	}

	list := top.get("commitments")
	if list == nil {
		p.add(root, "", "commitments", "missing: want a list of commitments (it may be empty: commitments: [])")
		return f
	}
	if list.Kind != yaml.SequenceNode {
		p.add(list, "", "commitments", "want a list, got %s", describe(list))
		return f
	}
	f.Commitments = make([]Commitment, 0, len(list.Content))
	for i, item := range list.Content {
		c := p.commitment(i, deref(item), currency, currencyBad)
		f.Commitments = append(f.Commitments, c)
	}
	return f
}

// prices reads the on-demand price cards (prices:, a list of {provider, instance_type and/or gpu_model (optional),
// price_per_gpu_hour, currency (optional, default the file's)}).
func (p *parser) prices(v *yaml.Node, defCurrency string, defCurrencyBad bool) PriceCards {
	const want = "{provider, instance_type and/or gpu_model (optional), price_per_gpu_hour, currency (optional)}"
	if v.Kind != yaml.SequenceNode {
		p.add(v, "", "prices", "want a list of %s, got %s", want, describe(v))
		return nil
	}
	type key struct{ provider, it, gm string }
	seen := map[key]int{}
	var out PriceCards
	for j, item := range v.Content {
		item = deref(item)
		field := fmt.Sprintf("prices[%d]", j)
		if item.Kind != yaml.MappingNode {
			p.add(item, "", field, "want %s, got %s", want, describe(item))
			continue
		}
		f := p.mapping(item, "", field+".", priceFields)
		pr := Price{
			InstanceType: p.optStr(f.get("instance_type"), "", field+".instance_type"),
			GPUModel:     p.optStr(f.get("gpu_model"), "", field+".gpu_model"),
		}
		if n := f.get("provider"); n == nil {
			p.add(item, "", field+".provider", "missing: the OpenTelemetry cloud.provider value this price is charged by")
		} else {
			pr.Provider = p.str(n, "", field+".provider")
			if msg := providerProblem(pr.Provider); msg != "" {
				p.add(n, "", field+".provider", "%s", msg)
			}
		}
		if pn := f.get("price_per_gpu_hour"); pn == nil {
			p.add(item, "", field+".price_per_gpu_hour", "missing")
		} else if x, ok := p.number(pn, "", field+".price_per_gpu_hour"); ok {
			if x <= 0 {
				p.add(pn, "", field+".price_per_gpu_hour", "%s: must be more than 0", pn.Value)
			}
			pr.PricePerGPUHour = x
		}
		if n := f.get("currency"); n != nil {
			pr.Currency = p.str(n, "", field+".currency")
			if msg := currencyProblem(pr.Currency); n.Kind == yaml.ScalarNode && msg != "" {
				p.add(n, "", field+".currency", "%s", msg)
				pr.Currency = ""
			} else {
				p.sameMoney(n, "", field+".currency", pr.Currency)
			}
		} else if defCurrency == "" {
			if !defCurrencyBad {
				p.add(item, "", field+".currency", "missing: set currency here or the file's currency (e.g. currency: USD)")
			}
		} else {
			pr.Currency = defCurrency
			p.sameMoney(item, "", field, pr.Currency)
		}
		k := key{pr.Provider, pr.InstanceType, pr.GPUModel}
		if first, dup := seen[k]; dup {
			p.add(item, "", field, "same provider, instance_type and gpu_model as prices[%d] (line %d)", first, deref(v.Content[first]).Line)
		} else {
			seen[k] = j
		}
		out = append(out, pr)
	}
	return out
}

// sameMoney checks that a price is in the currency of the file's other prices.
func (p *parser) sameMoney(n *yaml.Node, where, field, currency string) {
	switch {
	case currency == "":
	case p.money == "":
		p.money, p.moneyLine = currency, n.Line
	case p.money != currency:
		p.add(n, where, field, "%s: every price of a file is in one currency, and the price at line %d is in %s", currency, p.moneyLine, p.money)
	}
}

func (p *parser) syntax(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.probs = append(p.probs, Problem{File: p.file, Line: line, Path: "yaml", Message: m[2]})
		return
	}
	p.probs = append(p.probs, Problem{File: p.file, Path: "yaml", Message: strings.TrimPrefix(msg, "yaml: ")})
}

// idRule says what idPattern accepts.
const idRule = "use letters, digits and . _ - : / (at most 128, starting with a letter or digit)"

// itemWhere names the i-th item of a list (commitments, requests) in problems: by its id too when it has a usable one,
// so every message about it can be found by the id.
func itemWhere(list string, i int, n *yaml.Node) string {
	if n.Kind == yaml.MappingNode {
		if v := lookup(n, "id"); v != nil && v.Kind == yaml.ScalarNode && idPattern.MatchString(v.Value) {
			return fmt.Sprintf("%s[%d] (id %s)", list, i, v.Value)
		}
	}
	return fmt.Sprintf("%s[%d]", list, i)
}

func (p *parser) commitment(i int, n *yaml.Node, defCurrency string, defCurrencyBad bool) Commitment {
	c := Commitment{Alerts: DefaultThresholds}
	where := itemWhere("commitments", i, n)
	p.lines = append(p.lines, n.Line)
	if n.Kind != yaml.MappingNode {
		p.add(n, where, "commitment", "want a mapping of fields (id, provider, kind, ...), got %s", describe(n))
		return c
	}
	f := p.mapping(n, where, "", commitmentFields)

	if v := f.get("id"); v == nil {
		p.add(n, where, "id", "missing")
	} else if v.Kind != yaml.ScalarNode {
		p.add(v, where, "id", "want a string, got %s", describe(v))
	} else {
		c.ID = v.Value
		switch first, dup := p.ids[c.ID]; {
		case c.ID == "":
			p.add(v, where, "id", "empty")
		case !idPattern.MatchString(c.ID):
			p.add(v, where, "id", "%q: %s", c.ID, idRule)
		case dup:
			p.add(v, where, "id", "duplicate: commitments[%d] at line %d has the same id", first, p.lines[first])
		default:
			p.ids[c.ID] = i
		}
	}
	c.Name = c.ID
	if v := f.get("name"); v != nil {
		if s := p.str(v, where, "name"); s != "" {
			c.Name = s
		}
	}

	if v := f.get("provider"); v == nil {
		p.add(n, where, "provider", "missing: the OpenTelemetry cloud.provider value (%s, or a lower-case word such as coreweave)",
			strings.Join(cloudprovider.OpenTelemetryValues(), ", "))
	} else {
		c.Provider = p.str(v, where, "provider")
		if msg := providerProblem(c.Provider); msg != "" {
			p.add(v, where, "provider", "%s", msg)
		}
	}

	if v := f.get("scope"); v != nil {
		s := p.mapping(v, where, "scope.", scopeFields)
		c.Scope = Scope{
			Account:      p.optStr(s.get("account"), where, "scope.account"),
			Region:       p.optStr(s.get("region"), where, "scope.region"),
			InstanceType: p.optStr(s.get("instance_type"), where, "scope.instance_type"),
			GPUModel:     p.optStr(s.get("gpu_model"), where, "scope.gpu_model"),
		}
	}

	kindOK := false
	if v := f.get("kind"); v == nil {
		p.add(n, where, "kind", "missing: capacity, usage or spend")
	} else {
		c.Kind = Kind(p.str(v, where, "kind"))
		switch c.Kind {
		case KindCapacity, KindUsage, KindSpend:
			kindOK = true
		default:
			p.add(v, where, "kind", "unknown kind %q: capacity (GPUs every hour), usage (GPU-hours over the term) or spend (money over the term)", c.Kind)
		}
	}

	if v := f.get("quantity"); v == nil {
		p.add(n, where, "quantity", "missing")
	} else if q, ok := p.number(v, where, "quantity"); ok {
		c.Quantity = q
		switch {
		case q <= 0:
			p.add(v, where, "quantity", "%s: must be more than 0", v.Value)
		case c.Kind == KindCapacity && q != math.Trunc(q):
			p.add(v, where, "quantity", "%s: a capacity commitment reserves whole GPUs", v.Value)
		}
	}

	p.unit(&c, f.get("unit"), n, where, kindOK, defCurrency, defCurrencyBad)

	if v := f.get("term"); v == nil {
		p.add(n, where, "term", "missing: {start: ..., end: ...}, whole UTC hours")
	} else {
		p.term(&c, v, where)
	}

	c.Team = p.optStr(f.get("team"), where, "team")
	if v := f.get("priority"); v != nil {
		c.Priority = p.priority(v, where)
	}
	if v := f.get("labels"); v != nil {
		c.Labels = p.labels(v, where)
	}
	if v := f.get("alerts"); v != nil {
		p.alerts(&c, v, where)
	}

	if v := f.get("price_per_gpu_hour"); v != nil {
		p.reservationPrice(&c, v, where, kindOK, defCurrency, defCurrencyBad)
	}

	rc := f.get("rate_card")
	switch {
	case kindOK && c.Kind != KindSpend && rc != nil:
		p.add(rc, where, "rate_card", "only spend commitments use a rate card (this one is %s)", c.Kind)
	case c.Kind == KindSpend && rc == nil:
		p.add(n, where, "rate_card", "missing: a spend commitment needs the price per GPU-hour of what consumes it")
	case c.Kind == KindSpend:
		c.RateCard = p.rateCard(rc, where, c.Scope)
	}
	return c
}

// reservationPrice reads what a capacity or usage commitment costs per GPU-hour, in the file's currency.
func (p *parser) reservationPrice(c *Commitment, v *yaml.Node, where string, kindOK bool, defCurrency string, defCurrencyBad bool) {
	x, ok := p.number(v, where, "price_per_gpu_hour")
	switch {
	case !ok:
		return
	case kindOK && c.Kind == KindSpend:
		p.add(v, where, "price_per_gpu_hour", "a spend commitment prices its GPU-hours with its rate_card")
		return
	case x <= 0:
		p.add(v, where, "price_per_gpu_hour", "%s: must be more than 0", v.Value)
		return
	case defCurrency == "":
		if !defCurrencyBad {
			p.add(v, where, "price_per_gpu_hour", "in which currency? set the file's currency (e.g. currency: USD)")
		}
		return
	}
	c.CommittedPrice, c.PriceCurrency = x, defCurrency
	p.sameMoney(v, where, "price_per_gpu_hour", defCurrency)
}

func (p *parser) unit(c *Commitment, v, n *yaml.Node, where string, kindOK bool, defCurrency string, defCurrencyBad bool) {
	unit := ""
	if v != nil {
		unit = p.str(v, where, "unit")
	}
	if !kindOK {
		c.Unit = unit
		return
	}
	switch c.Kind {
	case KindCapacity, KindUsage:
		want := UnitGPU
		meaning := "capacity commitments count GPUs reserved every hour"
		if c.Kind == KindUsage {
			want, meaning = UnitGPUHour, "usage commitments count GPU-hours over the term"
		}
		if unit != "" && unit != want {
			p.add(v, where, "unit", "%q does not match kind %s: %s (unit %s)", unit, c.Kind, meaning, want)
		}
		c.Unit = want
	case KindSpend:
		switch {
		case unit == "" && defCurrency == "":
			if !defCurrencyBad {
				p.add(n, where, "unit", "missing: a spend commitment is an amount of money; set unit to its currency (e.g. USD) or the file's currency")
			}
			return
		case unit == "":
			unit = defCurrency
		case unit == UnitGPU || unit == UnitGPUHour:
			p.add(v, where, "unit", "%q does not match kind spend: a spend commitment is an amount of money (unit a currency code such as USD)", unit)
			return
		default:
			if msg := currencyProblem(unit); msg != "" {
				p.add(v, where, "unit", "%s", msg)
				return
			}
		}
		c.Unit, c.Currency = unit, unit
	}
}

func (p *parser) term(c *Commitment, v *yaml.Node, where string) {
	t := p.mapping(v, where, "term.", termFields)
	if v.Kind != yaml.MappingNode {
		return
	}
	var okS, okE bool
	if s := t.get("start"); s == nil {
		p.add(v, where, "term.start", "missing")
	} else {
		c.Start, okS = p.hour(s, where, "term.start")
	}
	if e := t.get("end"); e == nil {
		p.add(v, where, "term.end", "missing")
	} else {
		c.End, okE = p.hour(e, where, "term.end")
		if okS && okE && !c.End.After(c.Start) {
			p.add(e, where, "term.end", "%s is not after term.start %s", c.End.Format(time.RFC3339), c.Start.Format(time.RFC3339))
		}
	}
}

// hour reads a time that must be a whole UTC hour that ClickHouse's DateTime can hold.
func (p *parser) hour(n *yaml.Node, where, field string) (time.Time, bool) {
	t, ok := p.time(n, where, field)
	if !ok {
		return t, false
	}
	switch {
	case t.Unix() < 0 || t.Unix() > math.MaxUint32:
		p.add(n, where, field, "%s is outside what ClickHouse DateTime holds (1970 to 2106)", t.Format(time.RFC3339))
		return t, false
	case !t.Truncate(time.Hour).Equal(t):
		p.add(n, where, field, "%s is not on a whole UTC hour: commitments are measured per hour", n.Value)
		return t, false
	}
	return t, true
}

func (p *parser) time(n *yaml.Node, where, field string) (time.Time, bool) {
	const want = "want an RFC 3339 time such as 2026-11-01T00:00:00Z"
	if n.Kind != yaml.ScalarNode {
		p.add(n, where, field, "%s, got %s", want, describe(n))
		return time.Time{}, false
	}
	switch n.ShortTag() {
	case "!!timestamp":
		var t time.Time
		if err := n.Decode(&t); err != nil {
			p.add(n, where, field, "%q: %v", n.Value, err)
			return t, false
		}
		return t.UTC(), true
	case "!!str":
		t, err := time.Parse(time.RFC3339, n.Value)
		if err != nil {
			p.add(n, where, field, "%q: %s", n.Value, want)
			return t, false
		}
		return t.UTC(), true
	}
	p.add(n, where, field, "%q: %s", n.Value, want)
	return time.Time{}, false
}

func (p *parser) labels(v *yaml.Node, where string) map[string]string {
	if v.Kind != yaml.MappingNode {
		p.add(v, where, "labels", "want a mapping of names to values, got %s", describe(v))
		return nil
	}
	out := map[string]string{}
	seen := map[string]int{}
	for _, e := range p.pairs(v, where, "labels.", 0) {
		k, val := e.k, e.v
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			p.add(k, where, "labels", "a label name must be a non-empty string")
			continue
		}
		field := "labels." + k.Value
		if line, dup := seen[k.Value]; dup {
			p.add(k, where, field, "duplicate label (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		if val.Kind != yaml.ScalarNode || val.ShortTag() == "!!null" {
			p.add(val, where, field, "want a value (a string), got %s", describe(val))
			continue
		}
		out[k.Value] = val.Value
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (p *parser) alerts(c *Commitment, v *yaml.Node, where string) {
	a := p.mapping(v, where, "alerts.", alertFields)
	set := func(key string, dst *float64, pct bool) {
		n := a.get(key)
		if n == nil {
			return
		}
		x, ok := p.number(n, where, "alerts."+key)
		switch {
		case !ok:
		case x < 0:
			p.add(n, where, "alerts."+key, "%s: must not be negative", n.Value)
		case pct && x > 100:
			p.add(n, where, "alerts."+key, "%s: a percentage, at most 100", n.Value)
		default:
			*dst = x
		}
	}
	set("projected_shortfall_pct", &c.Alerts.ProjectedShortfallPct, true)
	set("min_utilization_pct", &c.Alerts.MinUtilizationPct, true)
	set("max_leakage_gpu_hours_24h", &c.Alerts.MaxLeakageGPUHours24h, false)
	set("exhaustion_days", &c.Alerts.ExhaustionDays, false)
}

func (p *parser) rateCard(v *yaml.Node, where string, scope Scope) []Rate {
	if v.Kind != yaml.SequenceNode {
		p.add(v, where, "rate_card", "want a list of {instance_type and/or gpu_model, price_per_gpu_hour}, got %s", describe(v))
		return nil
	}
	if len(v.Content) == 0 {
		p.add(v, where, "rate_card", "empty: a spend commitment needs the price per GPU-hour of what consumes it")
		return nil
	}
	type key struct{ it, gm string }
	seen := map[key]int{}
	var out []Rate
	for j, item := range v.Content {
		item = deref(item)
		field := fmt.Sprintf("rate_card[%d]", j)
		if item.Kind != yaml.MappingNode {
			p.add(item, where, field, "want {instance_type and/or gpu_model, price_per_gpu_hour}, got %s", describe(item))
			continue
		}
		f := p.mapping(item, where, field+".", rateFields)
		r := Rate{
			InstanceType: p.optStr(f.get("instance_type"), where, field+".instance_type"),
			GPUModel:     p.optStr(f.get("gpu_model"), where, field+".gpu_model"),
		}
		if r.InstanceType == "" && r.GPUModel == "" {
			p.add(item, where, field, "names neither instance_type nor gpu_model: say what this price is for")
		}
		if scope.InstanceType != "" && r.InstanceType != "" && r.InstanceType != scope.InstanceType {
			p.add(f.get("instance_type"), where, field+".instance_type",
				"%s is outside the scope (instance_type %s): this line could never apply", r.InstanceType, scope.InstanceType)
		}
		if scope.GPUModel != "" && r.GPUModel != "" && r.GPUModel != scope.GPUModel {
			p.add(f.get("gpu_model"), where, field+".gpu_model",
				"%s is outside the scope (gpu_model %s): this line could never apply", r.GPUModel, scope.GPUModel)
		}
		if pn := f.get("price_per_gpu_hour"); pn == nil {
			p.add(item, where, field+".price_per_gpu_hour", "missing")
		} else if x, ok := p.number(pn, where, field+".price_per_gpu_hour"); ok {
			if x <= 0 {
				p.add(pn, where, field+".price_per_gpu_hour", "%s: must be more than 0", pn.Value)
			}
			r.PricePerGPUHour = x
		}
		if r.InstanceType != "" || r.GPUModel != "" {
			k := key{r.InstanceType, r.GPUModel}
			if first, dup := seen[k]; dup {
				p.add(item, where, field, "same instance_type and gpu_model as rate_card[%d] (line %d)", first, deref(v.Content[first]).Line)
			} else {
				seen[k] = j
			}
		}
		out = append(out, r)
	}
	return out
}

// fields are a mapping's values by key; a key whose value is null counts as absent.
type fields map[string]*yaml.Node

func (f fields) get(key string) *yaml.Node { return f[key] }

// mapping reads a mapping's keys, reporting keys that are not in known (with the nearest known one) and repeated
// keys. prefix is the field path of the mapping itself ("scope.") for messages.
func (p *parser) mapping(n *yaml.Node, where, prefix string, known []string) fields {
	out := fields{}
	name := strings.TrimSuffix(prefix, ".")
	if n.Kind != yaml.MappingNode {
		if n.ShortTag() != "!!null" {
			p.add(n, where, name, "want a mapping with %s, got %s", strings.Join(known, ", "), describe(n))
		}
		return out
	}
	lines := map[string]int{}
	for _, e := range p.pairs(n, where, prefix, 0) {
		k, v := e.k, e.v
		if k.Kind != yaml.ScalarNode {
			p.add(k, where, name, "a key must be a plain word, got %s", describe(k))
			continue
		}
		key := k.Value
		if line, dup := lines[key]; dup {
			p.add(k, where, prefix+key, "repeated (first at line %d)", line)
			continue
		}
		lines[key] = k.Line
		if !slices.Contains(known, key) {
			if near := nearest(key, known); near != "" {
				p.add(k, where, prefix+key, "unknown field (did you mean %s?)", near)
			} else {
				p.add(k, where, prefix+key, "unknown field (known: %s)", strings.Join(known, ", "))
			}
			continue
		}
		if v.ShortTag() == "!!null" {
			continue
		}
		out[key] = v
	}
	return out
}

// str reads a scalar as written (an account number stays as typed, leading zeros included).
func (p *parser) str(n *yaml.Node, where, field string) string {
	if n.Kind != yaml.ScalarNode {
		p.add(n, where, field, "want a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (p *parser) optStr(n *yaml.Node, where, field string) string {
	if n == nil {
		return ""
	}
	return p.str(n, where, field)
}

// priority reads a whole number in [-MaxPriority, MaxPriority].
func (p *parser) priority(n *yaml.Node, where string) int32 {
	x, ok := p.number(n, where, "priority")
	switch {
	case !ok:
	case x != math.Trunc(x):
		p.add(n, where, "priority", "%s: want a whole number", n.Value)
	case math.Abs(x) > MaxPriority:
		p.add(n, where, "priority", "%s: want a whole number from -%d to %d", n.Value, MaxPriority, MaxPriority)
	default:
		return int32(x)
	}
	return 0
}

func (p *parser) number(n *yaml.Node, where, field string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		p.add(n, where, field, "want a number, got %s", describe(n))
		return 0, false
	}
	var x float64
	if err := n.Decode(&x); err != nil {
		p.add(n, where, field, "%q: %v", n.Value, err)
		return 0, false
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		p.add(n, where, field, "%s: want a finite number", n.Value)
		return 0, false
	}
	return x, true
}

func providerProblem(s string) string {
	lower := strings.ToLower(s)
	norm := strings.NewReplacer("-", "_", " ", "_").Replace(lower)
	// Other spellings are rejected with the right value rather than rewritten, so the file says what ClickHouse will
	// hold.
	if id, ok := cloudprovider.Respelled(s); ok {
		return fmt.Sprintf("%q is not an OpenTelemetry cloud.provider value: write %s", s, id)
	}
	if !providerPattern.MatchString(s) {
		if slices.Contains(cloudprovider.OpenTelemetryValues(), norm) || providerPattern.MatchString(norm) {
			return fmt.Sprintf("%q: provider values are lower-case words: write %s", s, norm)
		}
		return fmt.Sprintf("%q: want a lower-case word, the OpenTelemetry cloud.provider value (%s, or e.g. coreweave, on_prem)",
			s, strings.Join(cloudprovider.OpenTelemetryValues(), ", "))
	}
	if s == cloudprovider.Unknown {
		return "unknown is for usage nobody could attribute; a commitment is bought from a named provider"
	}
	return ""
}

func currencyProblem(s string) string {
	if currencyPattern.MatchString(s) {
		return ""
	}
	if up := strings.ToUpper(s); currencyPattern.MatchString(up) {
		return fmt.Sprintf("%q: currency codes are upper-case (ISO 4217): write %s", s, up)
	}
	return fmt.Sprintf("%q: want an ISO 4217 currency code such as USD or EUR", s)
}

// lookup finds a key's value in a mapping without reporting anything.
func lookup(n *yaml.Node, key string) *yaml.Node {
	for _, e := range (&parser{}).pairs(n, "", "", 0) {
		if e.k.Kind == yaml.ScalarNode && e.k.Value == key {
			return e.v
		}
	}
	return nil
}

type pair struct{ k, v *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys expanded (<<: *anchor, or a list of anchors): a key written in
// the mapping wins over a merged one, an earlier merged mapping over a later one, as YAML specifies.
func (p *parser) pairs(n *yaml.Node, where, prefix string, depth int) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			own = append(own, pair{k, v})
			continue
		}
		srcs := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			srcs = srcs[:0]
			for _, s := range v.Content {
				srcs = append(srcs, deref(s))
			}
		}
		for _, s := range srcs {
			switch {
			case s.Kind != yaml.MappingNode:
				p.add(k, where, prefix+"<<", "merge a mapping (<<: *anchor), got %s", describe(s))
			case depth >= 8:
				p.add(k, where, prefix+"<<", "merges nested too deep")
			default:
				merged = append(merged, p.pairs(s, where, prefix, depth+1)...)
			}
		}
	}
	have := map[string]bool{}
	for _, e := range own {
		have[e.k.Value] = true
	}
	for _, e := range merged {
		if !have[e.k.Value] {
			have[e.k.Value] = true
			own = append(own, e)
		}
	}
	return own
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "something else"
}

// nearest is the known word within a small edit distance of s (a typo), or "".
func nearest(s string, known []string) string {
	best, bestD := "", 3
	if len(s) <= 4 {
		bestD = 2
	}
	for _, k := range known {
		if d := spelling.Distance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}
