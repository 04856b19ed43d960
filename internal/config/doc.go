// Package config reads idpgate's settings from the environment: one typed
// Config, built by FromEnv from a getenv function and checked by Validate.
// It is the only package that reads the environment; server.go maps Config
// into each package's own options.
package config
