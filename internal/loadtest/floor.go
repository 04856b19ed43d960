package loadtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
)

// floor is the least any gateway can cost on this machine for Query: it
// makes the same two upstream calls in parallel (GitHub's list of the
// user's repositories, Google's events of the primary calendar, the same
// parameters as the gateway's adapters), decodes the fields the answer
// needs and writes the same JSON shape. It validates no token (it only
// reads the subject), has no GraphQL engine, no limits, no logging, and
// caches every profile forever (the sandbox's seeded IdP tokens, looked
// up once per user). It is a yardstick for the load run, never a server.
type floor struct {
	sb     *sandbox.Sandbox
	client *http.Client
	github string // base URLs with a trailing slash
	google string

	mu       sync.RWMutex
	profiles map[string]*floorProfile // subject -> IdP tokens, never evicted
}

type floorProfile struct{ github, google string }

func newFloor(sb *sandbox.Sandbox, clients int) *floor {
	return &floor{
		sb:       sb,
		client:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxIdleConns: clients * 4}},
		github:   sb.GitHubURL + "/",
		google:   sb.GoogleURL + "/",
		profiles: map[string]*floorProfile{},
	}
}

func (f *floor) close() { f.client.CloseIdleConnections() }

// Floor is the floor handler over sb's emulators for up to clients
// concurrent requests, for benchmarks that set it next to the gateway; the
// function it returns closes its connections.
func Floor(sb *sandbox.Sandbox, clients int) (http.Handler, func()) {
	f := newFloor(sb, clients)
	return f, f.close
}

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	sub := subject(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	p := f.profile(sub)
	if p == nil {
		http.Error(w, "unknown user", http.StatusUnauthorized)
		return
	}
	var (
		wg           sync.WaitGroup
		repos        []struct{ Name string }
		events       []struct{ Title string }
		ghErr, ggErr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		// https://docs.github.com/rest/repos/repos#list-repositories-for-the-authenticated-user
		// (query and headers as providers/github sends them)
		q := url.Values{"per_page": {"5"}, "page": {"1"}, "sort": {"updated"}}
		var list []struct {
			Name string `json:"name"`
		}
		ghErr = f.get(r.Context(), f.github+"user/repos?"+q.Encode(), p.github, githubHeaders, &list)
		for _, x := range list {
			repos = append(repos, struct{ Name string }{x.Name})
		}
	}()
	go func() {
		defer wg.Done()
		// https://developers.google.com/calendar/api/v3/reference/events/list
		start := time.Now().UTC().Truncate(time.Second)
		q := url.Values{"singleEvents": {"true"}, "orderBy": {"startTime"}, "maxResults": {"5"},
			"timeMin": {start.Format(time.RFC3339)}, "timeMax": {start.Add(30 * 24 * time.Hour).Format(time.RFC3339)}}
		var list struct {
			Items []struct {
				Summary string `json:"summary"`
			} `json:"items"`
		}
		ggErr = f.get(r.Context(), f.google+"calendar/v3/calendars/primary/events?"+q.Encode(), p.google, nil, &list)
		for _, x := range list.Items {
			events = append(events, struct{ Title string }{x.Summary})
		}
	}()
	wg.Wait()
	if ghErr != nil || ggErr != nil {
		http.Error(w, "upstream failed", http.StatusBadGateway)
		return
	}
	type node struct {
		Name  string `json:"name,omitempty"`
		Title string `json:"title,omitempty"`
	}
	type conn struct {
		Nodes []node `json:"nodes"`
	}
	type identity struct {
		Provider string `json:"provider"`
		Repos    *conn  `json:"repos"`
		Calendar *conn  `json:"calendar"`
	}
	gh, gg := &conn{Nodes: []node{}}, &conn{Nodes: []node{}}
	for _, x := range repos {
		gh.Nodes = append(gh.Nodes, node{Name: x.Name})
	}
	for _, x := range events {
		gg.Nodes = append(gg.Nodes, node{Title: x.Title})
	}
	var out struct {
		Data struct {
			Me struct {
				ID         string     `json:"id"`
				Identities []identity `json:"identities"`
			} `json:"me"`
		} `json:"data"`
	}
	out.Data.Me.ID = sub
	out.Data.Me.Identities = []identity{{Provider: "GITHUB", Repos: gh}, {Provider: "GOOGLE", Calendar: gg}}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&out)
}

func (f *floor) profile(sub string) *floorProfile {
	f.mu.RLock()
	p := f.profiles[sub]
	f.mu.RUnlock()
	if p != nil || sub == "" {
		return p
	}
	gh, gg := f.sb.AccessToken(sub, "github"), f.sb.AccessToken(sub, "google-oauth2")
	if gh == "" || gg == "" {
		return nil
	}
	p = &floorProfile{github: gh, google: gg}
	f.mu.Lock()
	f.profiles[sub] = p
	f.mu.Unlock()
	return p
}

// githubHeaders are the ones GitHub recommends on every REST call.
var githubHeaders = map[string]string{"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

func (f *floor) get(ctx context.Context, u, token string, headers map[string]string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return &statusError{resp.StatusCode}
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "upstream status " + strconv.Itoa(e.code) }

// subject reads a JWT's sub claim without verifying anything: the floor
// trusts its callers, which is what makes it a floor.
func subject(jwt string) string {
	_, rest, ok := strings.Cut(jwt, ".")
	if !ok {
		return ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Sub
}
