// Starts GraphiQL with the settings the gateway put in #graphiql-config.
// Kept out of the page so the Content-Security-Policy needs no inline script.
(function () {
  var cfg = JSON.parse(document.getElementById('graphiql-config').textContent);
  var headers = {};
  if (cfg.token) {
    headers.Authorization = 'Bearer ' + cfg.token;
  }
  var fetcher = GraphiQL.createFetcher({ url: cfg.endpoint });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: cfg.defaultQuery,
      defaultHeaders: JSON.stringify(headers, null, 2),
      headerEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
