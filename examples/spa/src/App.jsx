import { useState } from "react";
import { useQuery } from "@apollo/client/react";
import { CombinedGraphQLErrors } from "@apollo/client/errors";
import { DASHBOARD, MORE_REPOS } from "./queries.js";

// The gateway's error codes a person can act on by signing in with the
// provider again (README: "Errors").
const SIGN_IN_AGAIN = new Set(["IDP_REAUTH_REQUIRED", "FORBIDDEN"]);

export function Problem({ title, detail }) {
  return (
    <main className="page">
      <h1>{title}</h1>
      <p className="error">{detail}</p>
    </main>
  );
}

export function SignedOut({ onLogin }) {
  return (
    <main className="page">
      <h1>idpgate example</h1>
      <p>Your repositories and calendars from every provider linked to your account.</p>
      <button data-testid="login" onClick={onLogin}>Log in</button>
    </main>
  );
}

// errorsByIdentity files each GraphQL error under the identity its path
// runs through (me.identities[i]…); the rest are general.
function errorsByIdentity(error) {
  const byIndex = new Map();
  const general = [];
  const list = CombinedGraphQLErrors.is(error) ? error.errors : error ? [error] : [];
  for (const e of list) {
    const p = e.path || [];
    if (p[0] === "me" && p[1] === "identities" && typeof p[2] === "number") {
      byIndex.set(p[2], [...(byIndex.get(p[2]) || []), e]);
    } else {
      general.push(e);
    }
  }
  return { byIndex, general };
}

export function App({ user, onLogout, onSignInAgain }) {
  // dataState is "streaming" while deferred parts (the calendars) are
  // still on their way.
  const { data, dataState, error, loading, fetchMore } = useQuery(DASHBOARD);
  const { byIndex, general } = errorsByIdentity(error);
  return (
    <main className="page" data-state={dataState}>
      <header>
        <h1>Hello {data?.me?.name ?? user?.name}</h1>
        <button data-testid="logout" onClick={onLogout}>Log out</button>
      </header>
      {loading && !data && <p data-testid="loading">Loading…</p>}
      {general.map((e, i) => (
        <p key={i} className="error" data-testid="error">{e.message}</p>
      ))}
      <div className="identities">
        {data?.me?.identities.map((idn, i) => (
          <Identity
            key={idn.id}
            identity={idn}
            errors={byIndex.get(i) || []}
            streaming={dataState === "streaming"}
            fetchMore={fetchMore}
            onSignInAgain={onSignInAgain}
          />
        ))}
      </div>
    </main>
  );
}

function Identity({ identity, errors, streaming, fetchMore, onSignInAgain }) {
  const [paging, setPaging] = useState(false);
  const [pageError, setPageError] = useState(null);
  const can = (c) => identity.capabilities.includes(c);
  const repoErrors = errors.filter((e) => e.path?.[3] === "repos");
  const calErrors = errors.filter((e) => e.path?.[3] === "calendar");
  const more = async () => {
    setPaging(true);
    setPageError(null);
    try {
      // Only this identity is asked for its next page; the cache's
      // typePolicies append it to the list the dashboard shows.
      const res = await fetchMore({
        query: MORE_REPOS,
        variables: { id: identity.id, after: identity.repos.pageInfo.endCursor },
      });
      if (res.error) setPageError(res.error.message);
    } catch (e) {
      setPageError(e.message);
    } finally {
      setPaging(false);
    }
  };
  return (
    // One section per Auth0 connection: GitLab's provider is "oauth2", and
    // two connections can share a provider.
    <section className="identity" data-testid={`identity-${identity.connection}`}>
      <h2>
        {identity.provider} <small>{identity.connection}</small>
      </h2>
      {can("REPOS") && (
        <div className="repos" data-testid="repos">
          <h3>Repositories</h3>
          <Errors errors={repoErrors} identity={identity} onSignInAgain={onSignInAgain} />
          <ul>
            {identity.repos?.edges.map(({ node }) => (
              <li key={node.id} data-testid="repo">
                <a href={node.url}>{node.fullName}</a> {node.private && <em>private</em>} ★{node.stars}
              </li>
            ))}
          </ul>
          {identity.repos?.pageInfo.hasNextPage && (
            <button data-testid="more" disabled={paging} onClick={more}>
              {paging ? "Loading…" : "more"}
            </button>
          )}
          {pageError && <p className="error">{pageError}</p>}
        </div>
      )}
      {can("CALENDAR") && (
        <div className="calendar" data-testid="calendar">
          <h3>Calendar</h3>
          <Errors errors={calErrors} identity={identity} onSignInAgain={onSignInAgain} />
          {/* A deferred field is missing until its part arrives. */}
          {streaming && !identity.calendar && calErrors.length === 0 && (
            <p data-testid="calendar-loading" className="muted">Loading calendar…</p>
          )}
          <ul>
            {identity.calendar?.edges.map(({ node }) => (
              <li key={node.id} data-testid="event">
                {node.allDay ? node.start.slice(0, 10) : new Date(node.start).toLocaleString()} — {node.title}
              </li>
            ))}
          </ul>
        </div>
      )}
      {!can("REPOS") && !can("CALENDAR") && <p className="muted">Nothing to show from this provider.</p>}
    </section>
  );
}

function Errors({ errors, identity, onSignInAgain }) {
  return errors.map((e, i) => {
    const code = e.extensions?.code;
    // The connection is what the user signed in with ("gitlab", not oauth2).
    const connection = e.extensions?.connection || identity.connection;
    return (
      <div key={i} className="error" data-testid="identity-error" data-code={code}>
        <p>{e.message}</p>
        {SIGN_IN_AGAIN.has(code) && (
          <button data-testid="sign-in-again" onClick={() => onSignInAgain(identity.connection)}>
            Sign in with {connection} again
          </button>
        )}
        {code === "UPSTREAM_RATE_LIMITED" && e.extensions?.retryAfter && (
          <p className="muted">Try again in {e.extensions.retryAfter} s.</p>
        )}
      </div>
    );
  });
}
