package resilience

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// heldBackend answers each request only when the test releases it, and
// reports each arrival (the X-User header) in order.
type heldBackend struct {
	srv     *httptest.Server
	arrived chan string
	release chan struct{}
}

func newHeldBackend(t *testing.T) *heldBackend {
	b := &heldBackend{arrived: make(chan string, 100), release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.arrived <- r.Header.Get("X-User")
		select {
		case <-b.release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(func() {
		close(b.release)
		b.srv.Close()
	})
	return b
}

// testUser keys the user in a test request's context, read by userOfTest
// (Policy.User), as the gateway reads the bearer token's sub.
type testUser struct{}

func userOfTest(ctx context.Context) string {
	u, _ := ctx.Value(testUser{}).(string)
	return u
}

func (b *heldBackend) get(t *testing.T, c *http.Client, user string) {
	req, err := http.NewRequestWithContext(context.WithValue(t.Context(), testUser{}, user), http.MethodGet, b.srv.URL, nil)
	if err != nil {
		t.Error(err)
		return
	}
	req.Header.Set("X-User", user)
	resp, err := c.Do(req)
	if err != nil {
		if t.Context().Err() == nil {
			t.Errorf("GET as %s: %v", user, err)
		}
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestSlotsRoundRobinPerUser (issue 10.4): a user with many calls queued
// for an upstream's slots does not make a quiet user wait behind all of
// them. With 2 slots held by the hostile user and 6 more of theirs queued
// before the quiet user's one, FIFO served the quiet user 7th; round robin
// serves it 2nd.
func TestSlotsRoundRobinPerUser(t *testing.T) {
	b := newHeldBackend(t)
	tr := NewTransport(b.srv.Client().Transport, Policy{Name: "up", MaxConcurrent: 2, Retries: -1, User: userOfTest})
	queued := make(chan string, 100)
	tr.slots.onQueue = func(user string) { queued <- user }
	c := &http.Client{Transport: tr}

	var wg sync.WaitGroup
	defer wg.Wait()
	for range 2 {
		wg.Go(func() { b.get(t, c, "hostile") })
		<-b.arrived
	}
	for range 6 {
		wg.Go(func() { b.get(t, c, "hostile") })
		<-queued
	}
	wg.Go(func() { b.get(t, c, "quiet") })
	<-queued

	var order []string
	for range 7 {
		b.release <- struct{}{}
		order = append(order, <-b.arrived)
	}
	at := -1
	for i, u := range order {
		if u == "quiet" {
			at = i
			break
		}
	}
	if at < 0 || at > 1 {
		t.Errorf("served after the first slots freed = %v; want the quiet user among the first 2", order)
	}
	b.release <- struct{}{}
	b.release <- struct{}{}
}

// TestPerUserBound (issue 10.4): one user's calls in flight are bounded
// over all the upstreams sharing a PerUser, and another user's call is not
// held up by them.
func TestPerUserBound(t *testing.T) {
	b1, b2 := newHeldBackend(t), newHeldBackend(t)
	per := NewPerUser(3)
	c1 := &http.Client{Transport: NewTransport(b1.srv.Client().Transport, Policy{Name: "github", PerUser: per, Retries: -1, User: userOfTest})}
	c2 := &http.Client{Transport: NewTransport(b2.srv.Client().Transport, Policy{Name: "google", PerUser: per, Retries: -1, User: userOfTest})}

	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range 8 {
		c, b := c1, b1
		if i%2 == 1 {
			c, b = c2, b2
		}
		wg.Go(func() { b.get(t, c, "hostile") })
	}
	// Three of the hostile user's calls arrive, no more: the quiet user's
	// call is the next arrival at either upstream.
	arrivals := map[string]int{}
	for range 3 {
		select {
		case u := <-b1.arrived:
			arrivals[u]++
		case u := <-b2.arrived:
			arrivals[u]++
		}
	}
	wg.Go(func() { b1.get(t, c1, "quiet") })
	if u := <-b1.arrived; u != "quiet" {
		t.Fatalf("next arrival = %q; want the quiet user (the hostile one is at its bound)", u)
	}
	if arrivals["hostile"] != 3 {
		t.Errorf("hostile arrivals = %d; want 3", arrivals["hostile"])
	}
	per.mu.Lock()
	if len(per.users) != 2 {
		t.Errorf("users tracked = %d; want 2", len(per.users))
	}
	per.mu.Unlock()
	// Let everything finish; the bound's bookkeeping empties.
	go func() {
		for range 9 {
			select {
			case b1.release <- struct{}{}:
			case b2.release <- struct{}{}:
			}
		}
	}()
	for range 5 {
		select {
		case <-b1.arrived:
		case <-b2.arrived:
		}
	}
	wg.Wait()
	per.mu.Lock()
	defer per.mu.Unlock()
	if len(per.users) != 0 {
		t.Errorf("users tracked after all calls = %d; want 0", len(per.users))
	}
}
