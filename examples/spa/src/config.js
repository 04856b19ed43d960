// Settings come from the environment at build time (Vite exposes VITE_*
// variables): a real tenant's, or those `go run . --dev` prints.
export const config = {
  domain: import.meta.env.VITE_AUTH0_DOMAIN,
  clientId: import.meta.env.VITE_AUTH0_CLIENT_ID,
  audience: import.meta.env.VITE_AUTH0_AUDIENCE,
  graphqlURL: import.meta.env.VITE_GRAPHQL_URL,
};

export function missingConfig() {
  return Object.entries({
    VITE_AUTH0_DOMAIN: config.domain,
    VITE_AUTH0_CLIENT_ID: config.clientId,
    VITE_AUTH0_AUDIENCE: config.audience,
    VITE_GRAPHQL_URL: config.graphqlURL,
  })
    .filter(([, v]) => !v)
    .map(([k]) => k);
}
