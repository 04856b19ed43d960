package config

import (
	"fmt"
	"time"
)

// Budget holds the settings that keep one user from spending what all
// users share: the Management API budget and the providers' connection
// slots (issue 10, items 3 and 4).
type Budget struct {
	// ReloadInterval (AUTH0_RELOAD_INTERVAL): each user re-reads their
	// profile by id at most once per interval after a provider rejected a
	// token. 0 turns the interval off.
	ReloadInterval time.Duration
	// ReconsentTTL (AUTH0_RECONSENT_TTL): how long a token seen rejected
	// after a re-read is remembered as needing re-consent, so that it
	// costs no further Management API call. 0 turns the memory off.
	ReconsentTTL time.Duration
	// MaxIdentities (MAX_IDENTITIES): how many distinct identities one
	// request may call the providers for; the repos and calendar fields of
	// any further identity answer an error.
	MaxIdentities int
	// UserUpstreamConcurrency (USER_UPSTREAM_CONCURRENCY): provider calls
	// one user may have in flight at once, over all providers.
	UserUpstreamConcurrency int
	// UpstreamConcurrency (UPSTREAM_CONCURRENCY): calls one replica may
	// have in flight to one upstream (a connection's API, the Management
	// API) over all users; waiting calls are served round robin per user.
	// It bounds the sockets and memory one upstream can hold, and with it
	// what one replica can send a slow upstream; it is not a provider's
	// limit (GitHub's 100 concurrent requests, for example, count per user
	// token). Each call in flight may buffer one answer of up to 8 MiB
	// (upstream.MaxBody) and holds one connection.
	UpstreamConcurrency int
}

func defaultBudget() Budget {
	return Budget{
		ReloadInterval:          30 * time.Second,
		ReconsentTTL:            5 * time.Minute,
		MaxIdentities:           10,
		UserUpstreamConcurrency: 8,
		UpstreamConcurrency:     256,
	}
}

func (b *Budget) read(r *reader) {
	r.duration("AUTH0_RELOAD_INTERVAL", &b.ReloadInterval)
	r.duration("AUTH0_RECONSENT_TTL", &b.ReconsentTTL)
	r.int("MAX_IDENTITIES", &b.MaxIdentities)
	r.int("USER_UPSTREAM_CONCURRENCY", &b.UserUpstreamConcurrency)
	r.int("UPSTREAM_CONCURRENCY", &b.UpstreamConcurrency)
}

func (b Budget) validate() error {
	switch {
	case b.ReloadInterval < 0 || b.ReloadInterval > time.Hour:
		return fmt.Errorf("AUTH0_RELOAD_INTERVAL: must be between 0 (off) and 1h")
	case b.ReconsentTTL < 0 || b.ReconsentTTL > 24*time.Hour:
		return fmt.Errorf("AUTH0_RECONSENT_TTL: must be between 0 (off) and 24h")
	case b.ReconsentTTL > 0 && b.ReconsentTTL < b.ReloadInterval:
		return fmt.Errorf("AUTH0_RECONSENT_TTL: must be 0 (off) or at least AUTH0_RELOAD_INTERVAL")
	case b.MaxIdentities < 1 || b.MaxIdentities > 100:
		return fmt.Errorf("MAX_IDENTITIES: must be between 1 and 100")
	case b.UserUpstreamConcurrency < 1 || b.UserUpstreamConcurrency > 1000:
		return fmt.Errorf("USER_UPSTREAM_CONCURRENCY: must be between 1 and 1000")
	case b.UpstreamConcurrency < 1 || b.UpstreamConcurrency > 1024:
		return fmt.Errorf("UPSTREAM_CONCURRENCY: must be between 1 and 1024")
	}
	return nil
}

// Off maps a duration where 0 means off to the convention of the packages
// it configures: negative means off, 0 means their default.
func Off(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
