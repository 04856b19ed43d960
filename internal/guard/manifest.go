package guard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// apolloManifestFormat is the "format" of Apollo's persisted query manifest
// (@apollo/generate-persisted-query-manifest).
const apolloManifestFormat = "apollo-persisted-query-manifest"

// maxManifestBytes bounds what LoadManifest reads.
const maxManifestBytes = 32 << 20

// Manifest is a list of trusted documents: operation ids and their query
// text. It is immutable and safe for concurrent use; a nil *Manifest is
// empty. Build one with LoadManifest or ParseManifest.
type Manifest struct {
	byID   map[string]string
	bodies map[string]bool // sha256 (lower-case hex) of each body
}

// LoadManifest reads a manifest file; see ParseManifest for the formats.
func LoadManifest(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("guard: manifest: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("guard: manifest %s: %w", path, err)
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("guard: manifest %s is larger than %d bytes", path, maxManifestBytes)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return m, nil
}

// ParseManifest accepts either Apollo's persisted query manifest
//
//	{"format":"apollo-persisted-query-manifest","version":1,
//	 "operations":[{"id":"…","name":"…","type":"query","body":"…"}]}
//
// whose ids are taken as they are (Apollo's generator uses the body's
// sha256), or a flat map {"<sha256 of body>":"<body>"}, whose keys must be
// the lower-case hex sha256 of their bodies. Every body must parse as a
// GraphQL document; an id must not map to two different bodies.
func ParseManifest(data []byte) (*Manifest, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("guard: manifest is not a JSON object: %w", err)
	}
	m := &Manifest{byID: map[string]string{}, bodies: map[string]bool{}}
	if raw, ok := probe["format"]; ok {
		var format string
		if err := json.Unmarshal(raw, &format); err == nil && format == apolloManifestFormat {
			return m, m.addApollo(data)
		}
	}
	flat := map[string]string{}
	if err := json.Unmarshal(data, &flat); err != nil {
		return nil, errors.New(`guard: manifest is neither an Apollo persisted query manifest nor a {"<sha256>":"<query>"} map`)
	}
	for id, body := range flat {
		if id != hashQuery(body) {
			return nil, fmt.Errorf("guard: manifest: key %q is not the sha256 of its query", truncate(id))
		}
		if err := m.add(id, body); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Manifest) addApollo(data []byte) error {
	var doc struct {
		Version    int `json:"version"`
		Operations []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Body string `json:"body"`
		} `json:"operations"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("guard: manifest: %w", err)
	}
	if doc.Version != 1 {
		return fmt.Errorf("guard: manifest: version %d; want 1", doc.Version)
	}
	for i, op := range doc.Operations {
		if op.ID == "" {
			return fmt.Errorf("guard: manifest: operation %d (%q) has no id", i, op.Name)
		}
		if err := m.add(op.ID, op.Body); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manifest) add(id, body string) error {
	if strings.TrimSpace(body) == "" {
		return fmt.Errorf("guard: manifest: operation %q has no body", truncate(id))
	}
	if prev, ok := m.byID[id]; ok && prev != body {
		return fmt.Errorf("guard: manifest: id %q has two different bodies", truncate(id))
	}
	if _, err := parser.ParseQuery(&ast.Source{Input: body}); err != nil {
		return fmt.Errorf("guard: manifest: operation %q does not parse: %w", truncate(id), err)
	}
	m.byID[id] = body
	m.bodies[hashQuery(body)] = true
	return nil
}

// Len returns the number of ids; a nil Manifest is empty.
func (m *Manifest) Len() int {
	if m == nil {
		return 0
	}
	return len(m.byID)
}

// Lookup returns the query text of an id.
func (m *Manifest) Lookup(id string) (string, bool) {
	if m == nil {
		return "", false
	}
	q, ok := m.byID[id]
	return q, ok
}

// Contains reports whether query is, byte for byte, one of the bodies.
func (m *Manifest) Contains(query string) bool {
	return m != nil && m.bodies[hashQuery(query)]
}

func hashQuery(q string) string {
	sum := sha256.Sum256([]byte(q))
	return hex.EncodeToString(sum[:])
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
