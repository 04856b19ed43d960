import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createAuth0Client } from "@auth0/auth0-spa-js";
import { ApolloProvider } from "@apollo/client/react";
import { config, missingConfig } from "./config.js";
import { createApolloClient } from "./apollo.js";
import { App, SignedOut, Problem } from "./App.jsx";
import "./style.css";

const root = createRoot(document.getElementById("root"));

async function start() {
  const missing = missingConfig();
  if (missing.length > 0) {
    root.render(<Problem title="Configuration missing" detail={`Set ${missing.join(", ")} (see README).`} />);
    return;
  }
  // Tokens stay in memory (the SDK's default cache): nothing a script
  // injected into the page could read from storage later. Refresh tokens
  // rotate, so a stolen one stops working after its next use.
  const auth0 = await createAuth0Client({
    domain: config.domain,
    clientId: config.clientId,
    useRefreshTokens: true,
    authorizationParams: {
      redirect_uri: window.location.origin + "/",
      audience: config.audience,
      scope: "openid profile email offline_access",
    },
  });

  const params = new URLSearchParams(window.location.search);
  if (params.has("error")) {
    root.render(<Problem title="Sign-in failed" detail={params.get("error_description") || params.get("error")} />);
    return;
  }
  if (params.has("code") && params.has("state")) {
    try {
      await auth0.handleRedirectCallback();
    } catch (e) {
      root.render(<Problem title="Sign-in failed" detail={String(e.message || e)} />);
      return;
    }
    window.history.replaceState({}, document.title, "/");
  }

  if (!(await auth0.isAuthenticated())) {
    root.render(<SignedOut onLogin={() => auth0.loginWithRedirect()} />);
    return;
  }
  const user = await auth0.getUser();
  const client = createApolloClient({
    uri: config.graphqlURL,
    getAccessToken: () => auth0.getTokenSilently(),
  });
  root.render(
    <StrictMode>
      <ApolloProvider client={client}>
        <App
          user={user}
          onLogout={() => auth0.logout({ logoutParams: { returnTo: window.location.origin + "/" } })}
          onSignInAgain={(connection) =>
            auth0.loginWithRedirect({ authorizationParams: { connection, prompt: "consent" } })
          }
        />
      </ApolloProvider>
    </StrictMode>,
  );
}

start().catch((e) => root.render(<Problem title="Could not start" detail={String(e.message || e)} />));
