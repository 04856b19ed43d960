// Package config reads idpgate's settings from the environment: one typed
// Config, built by FromEnv from an Env (a getenv function and the list of
// names set, through which the CONNECTION_<NAME>_<FIELD> variables are
// found) and checked by Validate. The provider-level variables and the
// connections' fields derive from the adapters' specs in providers/all, and
// Resolve layers a connection's settings over them. It is the only package
// that reads the environment; internal/gateway maps Config into each
// package's own options.
package config
