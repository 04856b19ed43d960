package resolvers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/providers"
)

// inputError is a problem with the client's arguments. Its message is safe
// to show.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func inputErrorf(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// authError means the caller is not (or no longer) a known user.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// public is the client-facing form of an error: a message that holds no
// token or upstream text, and the extensions of the contract.
type public struct {
	code       string
	message    string
	provider   string
	connection string
	retryAfter time.Duration
	// connectAccount: the user must connect the account to Auth0's Token
	// Vault (Connected Accounts flow) rather than sign in again.
	connectAccount bool
}

// classify maps any error a resolver returns to its public form. Anything
// unknown is internal, with a generic message. now dates retryAfter.
func classify(err error, now time.Time) public {
	var (
		in  *inputError
		au  *authError
		pe  *providers.Error
		rle *auth0.RateLimitError
	)
	var il *identityLimitError
	switch {
	case errors.As(err, &il):
		return public{code: gqlresp.CodeIdentityLimit, message: il.Error()}
	case errors.As(err, &in):
		return public{code: gqlresp.CodeBadUserInput, message: in.msg}
	case errors.As(err, &au):
		return public{code: gqlresp.CodeUnauthenticated, message: au.msg}
	case errors.As(err, &pe):
		p := public{provider: pe.Provider, connection: pe.Connection, retryAfter: pe.RetryAfter, connectAccount: pe.ConnectAccount && pe.Kind == providers.ReauthRequired}
		msg := pe.Message
		if msg == "" {
			msg = pe.Kind.String()
		}
		name := pe.Connection // the connection says which one to the user (GitLab's provider is "oauth2")
		if name == "" {
			name = pe.Provider
		}
		p.message = name + ": " + msg
		switch pe.Kind {
		case providers.ReauthRequired:
			p.code = gqlresp.CodeReauthRequired
		case providers.Forbidden:
			p.code = gqlresp.CodeForbidden
		case providers.RateLimited:
			p.code = gqlresp.CodeUpstreamRateLimited
		case providers.BadInput:
			p.code = gqlresp.CodeBadUserInput
		default:
			p.code = gqlresp.CodeUpstreamUnavailable
		}
		return p
	case errors.Is(err, auth0.ErrNotFound):
		return public{code: gqlresp.CodeUnauthenticated, message: "the signed-in user no longer exists in Auth0"}
	case errors.As(err, &rle):
		var wait time.Duration
		if !rle.Reset.IsZero() {
			wait = rle.Reset.Sub(now)
		}
		return public{code: gqlresp.CodeUpstreamRateLimited, message: "auth0: the Management API rate limit was reached", provider: "auth0", retryAfter: wait}
	case errors.Is(err, auth0.ErrUnauthorized):
		return public{code: gqlresp.CodeUpstreamUnavailable, message: "auth0: the gateway's Management API credentials were rejected", provider: "auth0"}
	case errors.Is(err, auth0.ErrUnavailable):
		return public{code: gqlresp.CodeUpstreamUnavailable, message: "auth0: the Management API is unavailable", provider: "auth0"}
	case errors.Is(err, context.DeadlineExceeded):
		return public{code: gqlresp.CodeUpstreamUnavailable, message: "the request timed out"}
	case errors.Is(err, context.Canceled):
		return public{code: gqlresp.CodeUpstreamUnavailable, message: "the request was cancelled"}
	}
	return public{code: gqlresp.CodeInternal, message: "internal error"}
}

// PresentError is the gqlgen error presenter: it turns a resolver's error
// into a gqlerror with extensions.code (and provider, connection, retryAfter). Errors
// gqlgen itself produced (parsing, validation) keep their message and get
// a code when they have none. Unknown errors are logged and shown as
// "internal error".
func (r *Resolver) PresentError(ctx context.Context, err error) *gqlerror.Error {
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Err == nil {
		// Produced by gqlgen or gqlparser: messages are about the query.
		// gqlgen's POST transport appends the whole undecodable body to
		// its message; reflect none of it back.
		if strings.HasPrefix(gqlErr.Message, "json request body could not be decoded") {
			gqlErr.Message = "the request body is not a valid JSON GraphQL request"
		}
		if gqlErr.Extensions == nil || gqlErr.Extensions["code"] == nil {
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			gqlErr.Extensions["code"] = gqlresp.CodeBadUserInput
		}
		if gqlErr.Path == nil {
			gqlErr.Path = graphql.GetPath(ctx)
		}
		return gqlErr
	}
	cause := err
	if gqlErr != nil && gqlErr.Err != nil {
		cause = gqlErr.Err
	}
	p := classify(cause, r.deps.Now())
	if idn := identityInScope(ctx); idn != nil && p.provider == "" {
		// An error about one identity names it, whatever its cause.
		p.provider, p.connection = idn.Provider, idn.Connection
	}
	log := r.deps.Logger(ctx)
	path := graphql.GetPath(ctx)
	switch p.code {
	case gqlresp.CodeInternal:
		log.ErrorContext(ctx, "resolver failed", "path", path.String(), "err", cause)
	case gqlresp.CodeIdentityLimit:
		// Up to every field of every identity beyond the cap: not worth a
		// line each at info.
		log.DebugContext(ctx, "resolver error", "path", path.String(), "code", p.code)
	default:
		log.InfoContext(ctx, "resolver error", "path", path.String(), "code", p.code, "err", cause)
	}
	out := &gqlerror.Error{
		Message:    p.message,
		Path:       path,
		Extensions: map[string]any{"code": p.code},
	}
	if gqlErr != nil {
		out.Locations = gqlErr.Locations
		if out.Path == nil {
			out.Path = gqlErr.Path
		}
	}
	if p.provider != "" {
		out.Extensions["provider"] = p.provider
	}
	if p.connection != "" {
		out.Extensions["connection"] = p.connection
	}
	if p.retryAfter > 0 {
		out.Extensions["retryAfter"] = int(math.Ceil(p.retryAfter.Seconds()))
	}
	if p.connectAccount {
		out.Extensions["connectAccount"] = true
	}
	return out
}

// Recover is the gqlgen recover func: a panic in a resolver becomes an
// internal error for that field. The stack goes to the log, never to the
// client.
func (r *Resolver) Recover(ctx context.Context, v any) error {
	r.deps.Logger(ctx).ErrorContext(ctx, "resolver panicked", "path", graphql.GetPath(ctx).String(), "panic", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
	return errors.New("internal error")
}
