package sandbox

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
)

// Faults are the shares of emulator API requests that InjectFaults makes
// fail, each drawn independently per request from a generator seeded with
// Seed. The zero value injects nothing.
//
// Faults apply to every request of the provider emulators (their APIs and
// their OAuth token endpoints, which the gateway calls to refresh) and to
// the Auth0 tenant's Management API (/api/v2/…). They never apply to the
// tenant's discovery and JWKS documents, nor to its /oauth/token endpoint:
// the gateway fetches the M2M token once and caches it, so failing that
// fetch would test the token cache rather than the request path, and
// internal/auth0's own tests cover a failing token endpoint.
type Faults struct {
	// ServerError is the share answered 500 with the emulated API's error
	// body.
	ServerError float64
	// RateLimited is the share answered 429 with the API's error body and
	// its rate-limit headers (Retry-After: 1, or Auth0's X-RateLimit-*
	// with a reset one second ahead).
	RateLimited float64
	// Hang is the share held without an answer until the client gives up
	// (or the emulator's server closes), for at most MaxHang, after which
	// it is answered 503.
	Hang float64
	// Seed seeds the generator that draws the faults, so a run is
	// reproducible up to the order in which concurrent requests arrive.
	Seed uint64
	// MaxHang bounds a hang; zero means 30 seconds.
	MaxHang time.Duration
}

const defaultMaxHang = 30 * time.Second

// FaultCounts is how many requests InjectFaults considered (Eligible)
// and how many it failed, by kind, since the last InjectFaults call.
type FaultCounts struct {
	Eligible, ServerError, RateLimited, Hang int
}

// faultInjector is the state behind InjectFaults; its zero value injects
// nothing. Safe for concurrent use.
type faultInjector struct {
	mu     sync.Mutex
	f      Faults
	rng    *rand.Rand
	counts FaultCounts
}

// InjectFaults makes the emulators fail the given shares of API requests
// from now on, replacing the previous setting and zeroing FaultCounts;
// InjectFaults(Faults{}) stops injecting. It panics when a share is
// outside [0, 1] or the shares add up to more than 1. Safe for concurrent
// use.
func (s *Sandbox) InjectFaults(f Faults) {
	for _, p := range []float64{f.ServerError, f.RateLimited, f.Hang} {
		if !(p >= 0 && p <= 1) {
			panic(fmt.Sprintf("sandbox: InjectFaults: share %v outside [0, 1]", p))
		}
	}
	if f.ServerError+f.RateLimited+f.Hang > 1 {
		panic("sandbox: InjectFaults: shares add up to more than 1")
	}
	if f.MaxHang <= 0 {
		f.MaxHang = defaultMaxHang
	}
	fi := &s.faults
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.f = f
	fi.rng = rand.New(rand.NewPCG(f.Seed, 0x9e3779b97f4a7c15))
	fi.counts = FaultCounts{}
}

// FaultCounts returns what InjectFaults has done since it was last called.
func (s *Sandbox) FaultCounts() FaultCounts {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.counts
}

type faultKind int

const (
	noFault faultKind = iota
	faultServerError
	faultRateLimited
	faultHang
)

// draw decides the fate of one eligible request.
func (fi *faultInjector) draw() (faultKind, time.Duration) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.rng == nil {
		return noFault, 0
	}
	fi.counts.Eligible++
	x := fi.rng.Float64()
	switch f := fi.f; {
	case x < f.ServerError:
		fi.counts.ServerError++
		return faultServerError, 0
	case x < f.ServerError+f.RateLimited:
		fi.counts.RateLimited++
		return faultRateLimited, 0
	case x < f.ServerError+f.RateLimited+f.Hang:
		fi.counts.Hang++
		return faultHang, f.MaxHang
	}
	return noFault, 0
}

// faultShape writes status (a 5xx, or 429 when limited) with the headers
// and a minimal error body of the API an emulator follows.
type faultShape func(w http.ResponseWriter, status int, limited bool)

// inject answers r with a fault when one is drawn for it and reports
// whether it did; h is the emulator and shape writes its API's error.
func (fi *faultInjector) inject(w http.ResponseWriter, r *http.Request, h http.Handler, shape faultShape) bool {
	if _, ok := h.(*fakeauth0.Tenant); ok && !strings.HasPrefix(r.URL.Path, "/api/v2/") {
		return false // discovery, JWKS, /oauth/token: see Faults
	}
	kind, maxHang := fi.draw()
	switch kind {
	case faultHang:
		t := time.NewTimer(maxHang)
		defer t.Stop()
		select {
		case <-r.Context().Done(): // the client gave up, or the server closed
		case <-t.C:
			writeFault(w, r, shape, http.StatusServiceUnavailable)
		}
		return true
	case faultServerError:
		writeFault(w, r, shape, http.StatusInternalServerError)
		return true
	case faultRateLimited:
		writeFault(w, r, shape, http.StatusTooManyRequests)
		return true
	}
	return false
}

// writeFault writes status with the headers and a minimal error body of
// the emulated API (shape). OAuth token endpoints (POST) answer RFC 6749's
// shape.
func writeFault(w http.ResponseWriter, r *http.Request, shape faultShape, status int) {
	limited := status == http.StatusTooManyRequests
	if r.Method == http.MethodPost {
		code := "temporarily_unavailable"
		if !limited {
			code = "server_error"
		}
		if limited {
			w.Header().Set("Retry-After", "1")
		}
		writeFaultJSON(w, status, map[string]string{"error": code, "error_description": http.StatusText(status)})
		return
	}
	if shape == nil {
		writeFaultJSON(w, status, map[string]string{"message": http.StatusText(status)})
		return
	}
	shape(w, status, limited)
}

// tenantFault answers a fault as the Management API does.
func tenantFault(w http.ResponseWriter, status int, limited bool) {
	hdr := w.Header()
	// https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy/management-api-endpoint-rate-limits
	body := map[string]any{"statusCode": status, "error": http.StatusText(status), "message": "Internal error"}
	if limited {
		hdr.Set("X-RateLimit-Limit", "50")
		hdr.Set("X-RateLimit-Remaining", "0")
		hdr.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
		body["message"], body["errorCode"] = "Global limit has been reached", "too_many_requests"
	}
	writeFaultJSON(w, status, body)
}

// githubFault answers a fault as GitHub's REST API does.
func githubFault(w http.ResponseWriter, status int, limited bool) {
	hdr := w.Header()
	msg := "Server Error"
	if limited {
		// A secondary rate limit is GitHub's 429.
		hdr.Set("Retry-After", "1")
		msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
	}
	writeFaultJSON(w, status, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(status)})
}

// googleFault answers a fault as Google's APIs do.
func googleFault(w http.ResponseWriter, status int, limited bool) {
	hdr := w.Header()
	st, domain, reason, msg := "INTERNAL", "global", "backendError", "Backend Error"
	if limited {
		hdr.Set("Retry-After", "1")
		st, domain, reason, msg = "RESOURCE_EXHAUSTED", "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"
	}
	writeFaultJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": st,
		"errors": []map[string]string{{"domain": domain, "reason": reason, "message": msg}},
	}})
}

// gitlabFault answers a fault as GitLab's API does.
func gitlabFault(w http.ResponseWriter, status int, limited bool) {
	hdr := w.Header()
	if limited {
		// Rack::Attack's throttle answer, as GitLab.com sends it.
		hdr.Set("Retry-After", "1")
		hdr.Set("RateLimit-Remaining", "0")
		hdr.Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("Retry later\n"))
		return
	}
	writeFaultJSON(w, status, map[string]string{"message": "500 Internal Server Error"})
}

// bitbucketFault answers a fault as Bitbucket Cloud's API does.
func bitbucketFault(w http.ResponseWriter, status int, limited bool) {
	msg := "Something went wrong"
	if limited {
		msg = "Rate limit for this resource has been exceeded"
	}
	writeFaultJSON(w, status, map[string]any{"type": "error", "error": map[string]string{"message": msg}})
}

// msgraphFault answers a fault as Microsoft Graph does.
func msgraphFault(w http.ResponseWriter, status int, limited bool) {
	hdr := w.Header()
	code, msg := "generalException", "General exception while processing."
	if limited {
		hdr.Set("Retry-After", "1")
		code, msg = "TooManyRequests", "Too many requests."
	}
	writeFaultJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeFaultJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // maps of strings and ints: cannot fail
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
