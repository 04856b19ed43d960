package identity

import (
	"bytes"
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/cluster"
	"github.com/idpgate/idpgate/internal/cluster/redistest"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/seal"
	"github.com/idpgate/idpgate/internal/secret"
)

// TestClusterCacheSharesProfiles: two loaders (two replicas: own Auth0
// client, own Store) share profiles through a real Redis. A profile A
// loaded costs B no Management API call and keeps its tokens; a profile
// too short-lived to cache is not shared; once the shared entry is gone B
// reads the user again when its local copy is past LocalTTL; the stored
// value holds no token in clear.
func TestClusterCacheSharesProfiles(t *testing.T) {
	rs := redistest.Start(t)
	c := newClock()
	tenant := &fakeauth0.Tenant{Now: c.Now}
	srv := httptest.NewServer(tenant)
	t.Cleanup(srv.Close)
	tenant.SetBaseURL(srv.URL)
	ring, err := seal.NewRing(bytes.Repeat([]byte{3}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	const localTTL = 5 * time.Second
	// lookups records each replica's shared-cache lookups (the telemetry
	// hook: profile_cache_requests_total{level="shared"}).
	var mu sync.Mutex
	lookups := map[string][]bool{}
	replica := func(name string) *Loader {
		st, err := cluster.New(cluster.Options{URL: rs.URL(), Ring: ring, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		shared, err := NewClusterCache(st, ClusterCacheOptions{LocalTTL: localTTL, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		id, sec := tenant.Credentials()
		client, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: id, ClientSecret: secret.New(sec), HTTPClient: srv.Client(), Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		observe := Observer{SharedCache: func(hit bool) {
			mu.Lock()
			defer mu.Unlock()
			lookups[name] = append(lookups[name], hit)
		}}
		return New(Config{Now: c.Now, Shared: shared, Observe: observe}, client)
	}
	a, b := replica("a"), replica("b")
	last := func(name string) (hit, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		l := lookups[name]
		if len(l) == 0 {
			return false, false
		}
		hit = l[len(l)-1]
		lookups[name] = nil
		return hit, true
	}
	reads := func() int { n := tenant.Calls(); return n.UserByID + n.Search }

	long := addGitHubUser(tenant, 9001, seedPrefix+"SHARED")
	short := "github|9002"
	tenant.AddUser(fakeauth0.User{UserID: short, Identities: []fakeauth0.Identity{{
		Provider: "github", Connection: "github", UserID: 9002, IsSocial: true, AccessToken: seedPrefix + "SHORT", ExpiresIn: 20,
	}}})

	cases := []struct {
		name   string
		user   string
		bReads int // Management API reads B makes after A loaded the user
	}{
		{"a profile A loaded", long, 0},
		{"a profile too short-lived to cache", short, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pa, err := a.Load(t.Context(), tc.user)
			if err != nil {
				t.Fatal(err)
			}
			before := reads()
			pb, err := b.Load(t.Context(), tc.user)
			if err != nil {
				t.Fatal(err)
			}
			if got := reads() - before; got != tc.bReads {
				t.Errorf("B's Management API reads = %d; want %d", got, tc.bReads)
			}
			if hit, ok := last("a"); !ok || hit {
				t.Errorf("A's shared lookup: hit %v, observed %v; want an observed miss", hit, ok)
			}
			if hit, ok := last("b"); !ok || hit != (tc.bReads == 0) {
				t.Errorf("B's shared lookup: hit %v, observed %v; want hit %v", hit, ok, tc.bReads == 0)
			}
			if !pb.User.Identities[0].AccessToken.Equal(pa.User.Identities[0].AccessToken) || pb.User.UserID != tc.user {
				t.Error("B's profile differs from A's")
			}
		})
	}

	// The shared entry goes (Redis lost it): B serves its own copy within
	// LocalTTL, then reads the user again.
	if err := rs.Client().Del(context.Background(), "idpgate:profile:"+long).Err(); err != nil {
		t.Fatal(err)
	}
	before := reads()
	if _, err := b.Load(t.Context(), long); err != nil || reads() != before {
		t.Errorf("B within LocalTTL: err %v, reads %d; want its own copy", err, reads()-before)
	}
	c.Advance(localTTL + time.Second)
	if _, err := b.Load(t.Context(), long); err != nil || reads() != before+1 {
		t.Errorf("B past LocalTTL without a shared entry: err %v, reads %d; want 1", err, reads()-before)
	}

	raw, err := rs.Client().Get(context.Background(), "idpgate:profile:"+long).Bytes()
	if err != nil {
		t.Fatalf("no shared profile for %s: %v", long, err)
	}
	if bytes.Contains(raw, []byte(seedPrefix)) || bytes.Contains(raw, []byte("github|9001")) {
		t.Error("the shared profile holds its token or user id in clear")
	}
}
