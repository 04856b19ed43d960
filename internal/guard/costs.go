package guard

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// FieldCost overrides the cost model for one field (see the package
// documentation). Its zero value means weight 0 and no list sizing.
type FieldCost struct {
	// Weight is the cost of resolving the field once per item.
	Weight int
	// SlicingArgument names the Int argument that bounds how many items
	// the field returns (e.g. "first"). When absent from the operation, the
	// argument's schema default applies.
	SlicingArgument string
	// SizedFields names the child fields that hold the items when the field
	// returns a connection (e.g. "edges", "nodes"). When empty, the field
	// itself is the list that SlicingArgument bounds.
	SizedFields []string
	// AssumedSize is the list size when no slicing argument applies.
	AssumedSize int
}

// Costs is the cost table. Its zero value charges 1 per object, 0 per scalar
// and assumes 100 items for a list without an entry. A Costs is read-only
// once handed to NewExtension and then safe for concurrent use.
type Costs struct {
	// Fields is keyed "Type.field", e.g. "Identity.repos".
	Fields map[string]FieldCost
	// DefaultListSize is the size assumed for a list field without an
	// entry; 0 means 100, the largest page the resolvers serve.
	DefaultListSize int
}

const defaultListSize = 100

// DefaultCosts returns the table for graph/schema.graphqls: repos and
// calendar each make one upstream call (weight 50) and return `first` items
// through edges and nodes; a user is assumed to have 8 linked identities.
func DefaultCosts() Costs {
	connection := func() FieldCost {
		return FieldCost{Weight: 50, SlicingArgument: "first", SizedFields: []string{"edges", "nodes"}}
	}
	return Costs{
		Fields: map[string]FieldCost{
			"User.identities":   {Weight: 1, AssumedSize: 8},
			"Identity.repos":    connection(),
			"Identity.calendar": connection(),
		},
		DefaultListSize: defaultListSize,
	}
}

// clone returns a deep copy, so a caller changing its table afterwards does
// not race with requests.
func (c Costs) clone() Costs {
	out := Costs{Fields: make(map[string]FieldCost, len(c.Fields)), DefaultListSize: c.DefaultListSize}
	for k, v := range c.Fields {
		v.SizedFields = append([]string(nil), v.SizedFields...)
		out.Fields[k] = v
	}
	if out.DefaultListSize == 0 {
		out.DefaultListSize = defaultListSize
	}
	return out
}

// Check reports entries that do not match schema: unknown types or fields,
// a slicing argument the field does not have or that is not an Int, sized
// fields that are not lists of the field's type, negative figures. Run it at
// start-up so a schema change cannot silently make the table stale.
func (c Costs) Check(schema *ast.Schema) error {
	var errs []error
	if c.DefaultListSize < 0 {
		errs = append(errs, fmt.Errorf("guard: cost table: DefaultListSize is %d; want 0 or more", c.DefaultListSize))
	}
	for key, fc := range c.Fields {
		if err := checkFieldCost(schema, key, fc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkFieldCost(schema *ast.Schema, key string, fc FieldCost) error {
	typeName, fieldName, ok := strings.Cut(key, ".")
	if !ok || typeName == "" || fieldName == "" {
		return fmt.Errorf("guard: cost table: key %q is not Type.field", key)
	}
	if fc.Weight < 0 || fc.AssumedSize < 0 {
		return fmt.Errorf("guard: cost table: %s has a negative weight or size", key)
	}
	def := schema.Types[typeName]
	if def == nil {
		return fmt.Errorf("guard: cost table: %s: no type %s in the schema", key, typeName)
	}
	field := def.Fields.ForName(fieldName)
	if field == nil {
		return fmt.Errorf("guard: cost table: %s: type %s has no field %s", key, typeName, fieldName)
	}
	if fc.SlicingArgument != "" {
		arg := field.Arguments.ForName(fc.SlicingArgument)
		if arg == nil {
			return fmt.Errorf("guard: cost table: %s has no argument %s", key, fc.SlicingArgument)
		}
		if arg.Type.Elem != nil || arg.Type.Name() != "Int" {
			return fmt.Errorf("guard: cost table: %s: argument %s is %s; want Int", key, fc.SlicingArgument, arg.Type)
		}
	}
	if len(fc.SizedFields) > 0 && fc.SlicingArgument == "" {
		return fmt.Errorf("guard: cost table: %s has sized fields but no slicing argument", key)
	}
	inner := schema.Types[field.Type.Name()]
	for _, name := range fc.SizedFields {
		var sized *ast.FieldDefinition
		if inner != nil {
			sized = inner.Fields.ForName(name)
		}
		if sized == nil {
			return fmt.Errorf("guard: cost table: %s: type %s has no field %s", key, field.Type.Name(), name)
		}
		if sized.Type.Elem == nil {
			return fmt.Errorf("guard: cost table: %s: %s.%s is not a list", key, field.Type.Name(), name)
		}
	}
	if len(fc.SizedFields) == 0 && (fc.SlicingArgument != "" || fc.AssumedSize > 0) && field.Type.Elem == nil {
		return fmt.Errorf("guard: cost table: %s is not a list; give it sized fields or no size", key)
	}
	return nil
}
