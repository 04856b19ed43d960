package guard

import (
	"strings"
	"testing"
)

func TestLimits(t *testing.T) {
	if got, want := (Limits{}).withDefaults(), DefaultLimits(); got != want {
		t.Errorf("Limits{}.withDefaults() = %+v; want %+v", got, want)
	}
	partial := Limits{MaxDepth: 3, MaxCost: 100}.withDefaults()
	if partial.MaxDepth != 3 || partial.MaxCost != 100 || partial.MaxAliases != DefaultLimits().MaxAliases {
		t.Errorf("withDefaults kept %+v; want MaxDepth 3, MaxCost 100, the rest defaults", partial)
	}
	if err := DefaultLimits().Validate(); err != nil {
		t.Errorf("DefaultLimits().Validate() = %v; want nil", err)
	}
	err := Limits{MaxDepth: -1, MaxTokens: -2}.Validate()
	if err == nil || !strings.Contains(err.Error(), "MaxDepth is -1") || !strings.Contains(err.Error(), "MaxTokens is -2") {
		t.Errorf("Validate() = %v; want both MaxDepth and MaxTokens named", err)
	}
}

func TestDefaultCostsMatchSchema(t *testing.T) {
	if err := DefaultCosts().Check(loadSchema(t)); err != nil {
		t.Errorf("DefaultCosts().Check(schema) = %v; want nil", err)
	}
}

func TestCostsCheck(t *testing.T) {
	schema := loadSchema(t)
	tests := []struct {
		name  string
		entry map[string]FieldCost
		want  string
	}{
		{"bad key", map[string]FieldCost{"repos": {}}, "is not Type.field"},
		{"unknown type", map[string]FieldCost{"Project.repos": {}}, "no type Project"},
		{"negative", map[string]FieldCost{"Identity.repos": {Weight: -1}}, "negative"},
		{"slicing argument not Int", map[string]FieldCost{"Identity.repos": {SlicingArgument: "after", SizedFields: []string{"nodes"}}}, "want Int"},
		{"sized fields without argument", map[string]FieldCost{"Identity.repos": {SizedFields: []string{"nodes"}}}, "no slicing argument"},
		{"size on a non-list", map[string]FieldCost{"Query.me": {AssumedSize: 3}}, "is not a list"},
		{"unknown sized field", map[string]FieldCost{"Identity.calendar": {SlicingArgument: "first", SizedFields: []string{"items"}}}, "has no field items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Costs{Fields: tt.entry}.Check(schema)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check(%v) = %v; want an error containing %q", tt.entry, err, tt.want)
			}
		})
	}
}

func TestNewExtensionCopiesCosts(t *testing.T) {
	costs := DefaultCosts()
	ext := NewExtension(Limits{}, costs)
	costs.Fields["Identity.repos"] = FieldCost{Weight: 1}
	if got := ext.costs.Fields["Identity.repos"].Weight; got != 50 {
		t.Errorf("extension weight after caller's change = %d; want 50", got)
	}
}
