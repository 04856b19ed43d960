package identity

import (
	"context"
	"errors"
	"log/slog"

	"github.com/graph-gophers/dataloader/v7"
	"golang.org/x/sync/errgroup"

	"github.com/idpgate/idpgate/internal/auth0"
)

// byIDConcurrency bounds the by-id reads one batch makes for the ids user
// search missed.
const byIDConcurrency = 8

// batch is the dataloader's batch function. ctx is the context of whichever
// caller opened the batch window, so it is detached here: that caller hanging
// up must not fail the others. keys may repeat (the dataloader's cache is
// off); every position gets an answer.
func (l *Loader) batch(ctx context.Context, keys []string) []*dataloader.Result[*Profile] {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.Timeout)
	defer cancel()

	ids := make([]string, 0, len(keys))
	pos := make(map[string]int, len(keys)) // id -> index in ids
	for _, k := range keys {
		if _, ok := pos[k]; !ok {
			pos[k] = len(ids)
			ids = append(ids, k)
		}
	}
	if l.cfg.Observe.Batch != nil {
		var end func()
		ctx, end = l.cfg.Observe.Batch(ctx, ids)
		defer end()
	}

	profiles, errs := l.fetchAll(ctx, ids)

	out := make([]*dataloader.Result[*Profile], len(keys))
	for i, k := range keys {
		j := pos[k]
		out[i] = &dataloader.Result[*Profile]{Data: profiles[j], Error: errs[j]}
	}
	return out
}

// fetchAll reads ids: one by id, several by user search and then by id for
// whatever the search did not return. profiles[i] or errs[i] is set for
// every i.
func (l *Loader) fetchAll(ctx context.Context, ids []string) (profiles []*Profile, errs []error) {
	profiles = make([]*Profile, len(ids))
	errs = make([]error, len(ids))
	fetched := l.cfg.Now()

	if len(ids) > 1 {
		found, err := l.users.SearchUsers(ctx, ids)
		if err != nil && !worthByID(err) {
			// By id would meet the same rate limit, credentials or
			// deadline, one call per user: fail the batch instead (nothing
			// is cached; the users' next requests try again).
			for i := range errs {
				errs[i] = err
			}
			return profiles, errs
		}
		if err != nil {
			// Search is an optimisation; by id still works.
			l.cfg.Logger.WarnContext(ctx, "identity: user search failed; reading by id",
				slog.Int("users", len(ids)), slog.Any("error", err))
			found = nil
		}
		byUserID := make(map[string]*auth0.User, len(found))
		for _, u := range found {
			if u != nil {
				byUserID[u.UserID] = u
			}
		}
		for i, id := range ids {
			if u, ok := byUserID[id]; ok {
				profiles[i] = &Profile{User: u, FetchedAt: fetched, FromSearch: true}
			}
		}
	}

	if len(ids) == 1 && profiles[0] == nil {
		// Alone, a user is read by id (immediately consistent); a Scheduler
		// may still merge it into a search with others queued meanwhile.
		ctx = mergeable(ctx)
	}
	var g errgroup.Group
	g.SetLimit(byIDConcurrency)
	missed := 0
	for i, id := range ids {
		if profiles[i] != nil {
			continue
		}
		missed++
		g.Go(func() error {
			u, err := l.byID(ctx, id)
			if err != nil {
				errs[i] = err
				return nil // one user failing fails no other
			}
			profiles[i] = &Profile{User: u, FetchedAt: fetched}
			return nil
		})
	}
	_ = g.Wait() // the goroutines never return an error
	if len(ids) > 1 {
		l.cfg.Logger.DebugContext(ctx, "identity: batch loaded",
			slog.Int("users", len(ids)), slog.Int("read_by_id", missed))
	}
	return profiles, errs
}

// worthByID reports whether reading by id may succeed after a search
// failed with err: not when the tenant rate limited the client, refused its
// credentials, or the batch ran out of time.
func worthByID(err error) bool {
	var rl *auth0.RateLimitError
	return !errors.As(err, &rl) && !errors.Is(err, auth0.ErrUnauthorized) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}
