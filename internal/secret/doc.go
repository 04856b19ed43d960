// Package secret holds credentials (access tokens, refresh tokens, client
// secrets) in a type that never prints its value: not through fmt verbs,
// slog, encoding/json or a panic message. The only way to the value is
// String.Reveal, so every place that sends a credential upstream is easy to
// find with grep.
package secret
