package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/idpgate/idpgate/internal/telemetry"
)

// metricName matches the metric names a PromQL expression can use from
// the gateway: its own (idpgate_) and the Go runtime and process
// collectors'.
var metricName = regexp.MustCompile(`\b(?:idpgate|go|process)_[a-zA-Z0-9_]+`)

// exported is every series name the gateway's metrics listener can serve.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := telemetry.NewMetrics()
	names := map[string]bool{}
	for _, n := range m.Names() {
		names[n] = true
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" || f.GetType().String() == "SUMMARY" {
			names[f.GetName()+"_sum"], names[f.GetName()+"_count"], names[f.GetName()+"_bucket"] = true, true, true
		}
	}
	return names
}

// unknownMetrics returns the metric names in exprs that the gateway does
// not export, and how many names exprs hold in all.
func unknownMetrics(exprs []string, known map[string]bool) (unknown []string, total int) {
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			total++
			if !known[n] && !slices.Contains(unknown, n) {
				unknown = append(unknown, n)
			}
		}
	}
	return unknown, total
}

func TestAlertRulesNameExportedMetrics(t *testing.T) {
	docs := readYAML(t, "prometheus/alerts.yml")
	var exprs []string
	for _, doc := range docs {
		groups, _ := doc["groups"].([]any)
		for i := range groups {
			rules, _ := get(groups, i, "rules").([]any)
			for j := range rules {
				if e, ok := get(rules, j, "expr").(string); ok {
					exprs = append(exprs, e)
				}
			}
		}
	}
	if len(exprs) < 6 {
		t.Fatalf("alert rules = %d; want at least 6 (429s, budget, breaker, refreshes, 5xx, p99)", len(exprs))
	}
	unknown, total := unknownMetrics(exprs, exported(t))
	if len(unknown) > 0 || total == 0 {
		t.Errorf("alerts.yml names metrics the gateway does not export: %v (of %d names)", unknown, total)
	}
}

func TestDashboardNamesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("grafana/idpgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/idpgate.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			exprs = append(exprs, q)
		}
	}
	known := exported(t)
	unknown, total := unknownMetrics(exprs, known)
	if len(unknown) > 0 || total == 0 {
		t.Errorf("idpgate.json names metrics the gateway does not export: %v (of %d names)", unknown, total)
	}
	// Every idpgate metric appears on the dashboard.
	for _, n := range telemetry.NewMetrics().Names() {
		if !metricName.MatchString(n) {
			continue
		}
		found := false
		for _, e := range exprs {
			if slices.Contains(metricName.FindAllString(e, -1), n) || slices.Contains(metricName.FindAllString(e, -1), n+"_bucket") {
				found = true
			}
		}
		base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(n, "")
		if !found && base == n {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}

func TestUnknownMetricIsCaught(t *testing.T) {
	unknown, _ := unknownMetrics([]string{`rate(idpgate_http_requests_total[5m]) / rate(idpgate_no_such_metric_total[5m])`}, exported(t))
	if !slices.Equal(unknown, []string{"idpgate_no_such_metric_total"}) {
		t.Errorf("unknownMetrics = %v; want [idpgate_no_such_metric_total]", unknown)
	}
}
