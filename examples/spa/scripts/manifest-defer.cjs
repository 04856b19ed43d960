// Preloaded (node -r) when generating the persisted-operation manifest.
// @apollo/generate-persisted-query-manifest 1.x builds its own ApolloClient
// without an incrementalHandler, and Apollo Client 4 refuses any operation
// with @defer then ("not supported without specifying an incremental
// handler"). The generator only needs the document to pass through, so the
// default handler is given Defer20220824Handler's request preparation (it
// only adds an Accept header) for this process alone. The manifest's
// bodies are printed exactly as the app's client sends them.
const { NotImplementedHandler, Defer20220824Handler } = require("@apollo/client/incremental");

NotImplementedHandler.prototype.prepareRequest = Defer20220824Handler.prototype.prepareRequest;
