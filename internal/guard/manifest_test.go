package guard

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseManifest(t *testing.T) {
	q1, q2 := `query A { me { id } }`, `query B { me { name } }`
	tests := []struct {
		name    string
		data    any
		wantErr string
		wantIDs map[string]string
	}{
		{
			name: "apollo",
			data: map[string]any{"format": "apollo-persisted-query-manifest", "version": 1, "operations": []map[string]any{
				{"id": "a1", "name": "A", "type": "query", "body": q1},
				{"id": hashQuery(q2), "name": "B", "type": "query", "body": q2},
			}},
			wantIDs: map[string]string{"a1": q1, hashQuery(q2): q2},
		},
		{
			name:    "flat",
			data:    map[string]string{hashQuery(q1): q1, hashQuery(q2): q2},
			wantIDs: map[string]string{hashQuery(q1): q1, hashQuery(q2): q2},
		},
		{
			name:    "flat key not the hash",
			data:    map[string]string{hashQuery(q2): q1},
			wantErr: "is not the sha256 of its query",
		},
		{
			name:    "flat upper-case hash",
			data:    map[string]string{strings.ToUpper(hashQuery(q1)): q1},
			wantErr: "is not the sha256 of its query",
		},
		{
			name:    "apollo version 2",
			data:    map[string]any{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []any{}},
			wantErr: "version 2; want 1",
		},
		{
			name: "apollo duplicate id",
			data: map[string]any{"format": "apollo-persisted-query-manifest", "version": 1, "operations": []map[string]any{
				{"id": "x", "body": q1}, {"id": "x", "body": q2},
			}},
			wantErr: `id "x" has two different bodies`,
		},
		{
			name: "apollo missing id",
			data: map[string]any{"format": "apollo-persisted-query-manifest", "version": 1, "operations": []map[string]any{
				{"name": "A", "body": q1},
			}},
			wantErr: "has no id",
		},
		{
			name: "apollo empty body",
			data: map[string]any{"format": "apollo-persisted-query-manifest", "version": 1, "operations": []map[string]any{
				{"id": "x", "body": " "},
			}},
			wantErr: "has no body",
		},
		{
			name: "body does not parse",
			data: map[string]any{"format": "apollo-persisted-query-manifest", "version": 1, "operations": []map[string]any{
				{"id": "x", "body": "{ me {"},
			}},
			wantErr: "does not parse",
		},
		{
			name:    "unknown format",
			data:    map[string]any{"format": "relay", "operations": []any{}},
			wantErr: "neither an Apollo persisted query manifest",
		},
		{
			name:    "not an object",
			data:    []string{q1},
			wantErr: "not a JSON object",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest(mustJSON(t, tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseManifest() = %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseManifest() = %v", err)
			}
			if m.Len() != len(tt.wantIDs) {
				t.Errorf("Len() = %d; want %d", m.Len(), len(tt.wantIDs))
			}
			for id, body := range tt.wantIDs {
				if got, ok := m.Lookup(id); !ok || got != body {
					t.Errorf("Lookup(%q) = %q, %v; want %q, true", id, got, ok, body)
				}
				if !m.Contains(body) {
					t.Errorf("Contains(%q) = false; want true", body)
				}
			}
			if m.Contains(q1 + " ") {
				t.Errorf("Contains(%q) = true; want false", q1+" ")
			}
		})
	}
}

func TestLoadManifestErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.json")
	if _, err := LoadManifest(missing); err == nil || !strings.HasPrefix(err.Error(), "guard: manifest: ") {
		t.Errorf("LoadManifest(%q) = %v; want a guard: manifest error", missing, err)
	}
	bad := writeJSON(t, map[string]string{"abc": "{ me { id } }"})
	if _, err := LoadManifest(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadManifest(%q) = %v; want an error naming the file", bad, err)
	}
}
