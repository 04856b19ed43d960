import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { Defer20220824Handler } from "@apollo/client/incremental";
import { relayStylePagination } from "@apollo/client/utilities";
import { generatePersistedQueryIdsFromManifest } from "@apollo/persisted-query-lists";

// The cache normalizes identities by their stable id, so a page fetched
// through me.identity(id) merges into the same Identity the dashboard
// lists; relayStylePagination appends pages of a connection (first/after
// are not part of the field's cache key).
export const typePolicies = {
  User: { keyFields: ["id"] },
  Identity: {
    keyFields: ["id"],
    fields: {
      repos: relayStylePagination(),
      calendar: relayStylePagination(["from", "to"]),
    },
  },
  Repository: { keyFields: ["id"] },
  CalendarEvent: { keyFields: ["id"] },
};

export function createApolloClient({ uri, getAccessToken }) {
  const auth = new SetContextLink(async (prevContext) => ({
    headers: { ...prevContext.headers, authorization: `Bearer ${await getAccessToken()}` },
  }));
  // The manifest made by @apollo/generate-persisted-query-manifest names
  // each operation's id: requests send the id, not the query text, which
  // is what a gateway with TRUSTED_DOCUMENTS accepts (and APQ otherwise).
  const persisted = new PersistedQueryLink(
    generatePersistedQueryIdsFromManifest({
      loadManifest: () => import("../persisted-query-manifest.json"),
    }),
  );
  return new ApolloClient({
    link: ApolloLink.from([auth, persisted, new HttpLink({ uri })]),
    cache: new InMemoryCache({ typePolicies }),
    // @defer over multipart/mixed, in the format idpgate (gqlgen) sends.
    incrementalHandler: new Defer20220824Handler(),
    // One identity failing must not hide the others: keep the data that
    // arrived and the errors next to it.
    defaultOptions: { watchQuery: { errorPolicy: "all" }, query: { errorPolicy: "all" } },
  });
}
