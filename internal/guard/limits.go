package guard

import (
	"errors"
	"fmt"
)

// Limits bound the size of an operation. A zero field takes its default
// (DefaultLimits); there is no "unlimited". A Limits is a plain value, safe
// to copy and to share.
type Limits struct {
	// MaxDepth bounds the nesting of field selections, fragments expanded.
	MaxDepth int
	// MaxAliases bounds the aliased fields, counted once per expansion.
	MaxAliases int
	// MaxRootFields bounds the fields selected at the root of the operation.
	MaxRootFields int
	// MaxDirectives bounds the directives ('@' tokens) in the document.
	MaxDirectives int
	// MaxTokens bounds the lexical tokens of the document; it also becomes
	// gqlgen's parser token limit.
	MaxTokens int
	// MaxFields bounds the field selections, counted once per expansion.
	MaxFields int
	// MaxCost bounds the estimated cost (see the package documentation).
	MaxCost int
}

// DefaultLimits returns the defaults; the package documentation explains
// them.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:      10,
		MaxAliases:    15,
		MaxRootFields: 5,
		MaxDirectives: 50,
		MaxTokens:     2000,
		MaxFields:     200,
		MaxCost:       5000,
	}
}

// withDefaults replaces zero fields by their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.MaxDepth, &d.MaxDepth},
		{&l.MaxAliases, &d.MaxAliases},
		{&l.MaxRootFields, &d.MaxRootFields},
		{&l.MaxDirectives, &d.MaxDirectives},
		{&l.MaxTokens, &d.MaxTokens},
		{&l.MaxFields, &d.MaxFields},
		{&l.MaxCost, &d.MaxCost},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return l
}

// Validate reports negative limits, naming each.
func (l Limits) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxDepth", l.MaxDepth},
		{"MaxAliases", l.MaxAliases},
		{"MaxRootFields", l.MaxRootFields},
		{"MaxDirectives", l.MaxDirectives},
		{"MaxTokens", l.MaxTokens},
		{"MaxFields", l.MaxFields},
		{"MaxCost", l.MaxCost},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("guard: %s is %d; want 0 (default) or more", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}
